//! Reads variable assignments out of history `created_by` lines: build arguments that the
//! builder recorded (`RUN |2 NPM_TOKEN=… A=b /bin/sh -c …`), `ENV A=1 B=2` (every variable, not
//! only the first), the old `ENV KEY value` form, and `ARG KEY=default`.

/// Splits a Dockerfile-style word list, honouring double and single quotes and backslash
/// escapes, the way the Dockerfile parser splits `ENV` arguments.
pub(crate) fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
                in_word = true;
            }
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

/// Strips the prefixes builders put before the instruction.
fn instruction(created_by: &str) -> &str {
    let text = created_by.trim();
    let text = text
        .strip_prefix("/bin/sh -c #(nop)")
        .unwrap_or(text)
        .trim();
    text.trim_end_matches("# buildkit").trim()
}

/// Returns the `(name, value)` pairs a history line sets or records: build arguments, ENV,
/// ARG and LABEL values, and credentials passed on a command line inside RUN.
pub(crate) fn assignments(created_by: &str) -> Vec<(String, String)> {
    let text = instruction(created_by);
    let run = text.strip_prefix("RUN ").unwrap_or(text).trim_start();
    if let Some(rest) = run.strip_prefix('|') {
        let mut found = build_args(rest);
        for pair in command_credentials(rest) {
            // The build arguments are `K=V` words of the same line; keep each pair once.
            if !found.contains(&pair) {
                found.push(pair);
            }
        }
        return found;
    }
    for keyword in ["ENV ", "ARG ", "LABEL "] {
        if let Some(rest) = text.strip_prefix(keyword) {
            return key_values(rest, keyword == "ENV ");
        }
    }
    command_credentials(run)
}

/// Finds credentials given to commands: `curl -u user:pass`, `--user user:pass`,
/// `--password X` and `-p X` of `docker login`-style commands, `mysql -pSECRET`, and
/// `key=value` words whose key names a credential (`echo 'password=…' > app.conf`). Each is
/// returned under a name that says where it was, ending in `password` or the key.
fn command_credentials(command: &str) -> Vec<(String, String)> {
    let words = split_words(command);
    let mut found = Vec::new();
    let is_login = words.iter().any(|w| w == "login");
    let mut index = 0;
    while index < words.len() {
        let word = words[index].as_str();
        let next = words.get(index + 1).map(String::as_str);
        let program = words[..index]
            .iter()
            .rev()
            .find(|w| !w.starts_with('-'))
            .map_or("command", |w| w.rsplit('/').next().unwrap_or(w));
        match (word, next) {
            ("-u" | "--user", Some(value)) if value.contains(':') => {
                let (_, password) = value.split_once(':').unwrap_or_default();
                found.push((format!("{program} user password"), password.to_owned()));
                index += 1;
            }
            ("--password" | "--pass", Some(value)) => {
                found.push((format!("{program} password"), value.to_owned()));
                index += 1;
            }
            ("-p", Some(value)) if is_login => {
                found.push((format!("{program} login password"), value.to_owned()));
                index += 1;
            }
            _ => {
                if let Some(value) = word.strip_prefix("--password=").or_else(|| {
                    word.strip_prefix("--user=")
                        .and_then(|v| v.split_once(':').map(|(_, p)| p))
                }) {
                    found.push((format!("{program} password"), value.to_owned()));
                } else if let Some(value) = word
                    .strip_prefix("-p")
                    .filter(|v| !v.is_empty() && program.starts_with("mysql"))
                {
                    found.push((format!("{program} password"), value.to_owned()));
                } else if let Some((key, value)) = word.split_once('=')
                    && !key.is_empty()
                    && !key.starts_with('-')
                {
                    found.push((key.to_owned(), value.to_owned()));
                }
            }
        }
        index += 1;
    }
    found
}

/// `N K1=V1 … KN=VN command…`: the first N words are the build arguments in effect.
fn build_args(rest: &str) -> Vec<(String, String)> {
    let Some((count, tail)) = rest.split_once(char::is_whitespace) else {
        return Vec::new();
    };
    let Ok(count) = count.parse::<usize>() else {
        return Vec::new();
    };
    tail.split_whitespace()
        .take(count)
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn key_values(rest: &str, allow_legacy: bool) -> Vec<(String, String)> {
    let words = split_words(rest);
    let Some(first) = words.first() else {
        return Vec::new();
    };
    if !first.contains('=') {
        // Legacy `ENV KEY value with spaces`.
        if allow_legacy && words.len() >= 2 {
            return vec![(first.clone(), words[1..].join(" "))];
        }
        return Vec::new();
    }
    words
        .iter()
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(line: &str) -> Vec<(String, String)> {
        assignments(line)
    }

    #[test]
    fn build_args_are_read() {
        let found =
            pairs("RUN |2 NPM_TOKEN=npm_abc NODE_ENV=production /bin/sh -c npm ci # buildkit");
        assert_eq!(
            found,
            vec![
                ("NPM_TOKEN".into(), "npm_abc".into()),
                ("NODE_ENV".into(), "production".into())
            ]
        );
    }

    #[test]
    fn classic_build_args_are_read() {
        let found = pairs("|1 TOKEN=abc /bin/sh -c make");
        assert_eq!(found, vec![("TOKEN".into(), "abc".into())]);
    }

    #[test]
    fn every_env_variable_is_read() {
        let found = pairs("ENV A=1 B=\"two words\" C='3'");
        assert_eq!(found.len(), 3);
        assert_eq!(found[1], ("B".into(), "two words".into()));
        assert_eq!(found[2], ("C".into(), "3".into()));
    }

    #[test]
    fn classic_env_prefix_is_stripped() {
        let found = pairs("/bin/sh -c #(nop)  ENV DB_PASSWORD=s3cret NODE_ENV=production");
        assert_eq!(found[0], ("DB_PASSWORD".into(), "s3cret".into()));
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn legacy_env_form_is_read() {
        let found = pairs("ENV API_KEY abc def");
        assert_eq!(found, vec![("API_KEY".into(), "abc def".into())]);
    }

    #[test]
    fn plain_run_lines_name_no_credentials() {
        // Package pins are `name=version` words; the check judges their names, which are not
        // credential names.
        let found = pairs("RUN /bin/sh -c apk add libcrypto3=3.1.4-r1");
        assert!(
            found
                .iter()
                .all(|(name, _)| !crate::secrets::names::is_secret_name(name)),
            "{found:?}"
        );
        assert!(pairs("COPY . /app # buildkit").is_empty());
    }

    #[test]
    fn command_line_credentials_are_read() {
        let cases = [
            (
                "RUN /bin/sh -c curl -u admin:Xk9pL2vQ8m https://example.com/x",
                "Xk9pL2vQ8m",
            ),
            (
                "RUN /bin/sh -c curl --user deploy:Qw8Er7Ty6U https://x",
                "Qw8Er7Ty6U",
            ),
            (
                "RUN /bin/sh -c docker login -u bot -p Zx8Qw7Er6T registry.example.com",
                "Zx8Qw7Er6T",
            ),
            (
                "RUN /bin/sh -c docker login --password=Pq7wZ2xLm9 reg",
                "Pq7wZ2xLm9",
            ),
            (
                "RUN /bin/sh -c mysql -uroot -pHunter2Prod -e 'select 1'",
                "Hunter2Prod",
            ),
            (
                "RUN /bin/sh -c echo 'password=Lm9vPq7wZ2' > /etc/app.conf",
                "Lm9vPq7wZ2",
            ),
        ];
        for (line, secret) in cases {
            let found = pairs(line);
            let hit = found
                .iter()
                .find(|(_, value)| value == secret)
                .unwrap_or_else(|| panic!("{line}: {found:?}"));
            assert!(
                crate::secrets::names::is_secret_name(&hit.0),
                "{line}: name {:?}",
                hit.0
            );
        }
    }
}
