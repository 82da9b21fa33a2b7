//! The generic rule: a value assigned to a secret-named key in a configuration file (`.env`,
//! properties, INI, TOML, YAML, HCL, JSON, XML), judged by the key's name and the value.
//!
//! Configuration files name many settings `password` or `token` that hold no secret, so
//! outside `.env` files the value must also look random: at least 8 characters and 3 bits of
//! Shannon entropy per character. Placeholders, references to secrets stored elsewhere and
//! values with stop words (`example`, `changeme`, `<your-key>`) never fire.

use std::ops::Range;
use std::sync::LazyLock;

use regex::bytes::Regex;

use super::names;

/// Syntax of a file's assignments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.env` files: any real value counts.
    Dotenv,
    /// One `key = value` or `key: value` per line.
    Lines,
    /// `"key": "value"` pairs anywhere, including minified JSON.
    Json,
    /// `<key>value</key>` elements and `<add key="…" value="…"/>` settings.
    Xml,
}

/// Lock files whose integrity hashes look random but are public.
const LOCKFILES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "composer.lock",
    "Pipfile.lock",
    "poetry.lock",
    "Cargo.lock",
    "Gemfile.lock",
];

pub fn is_dotenv(name: &str) -> bool {
    name == ".env" || name == ".envrc" || name.starts_with(".env.") || name.ends_with(".env")
}

/// Returns how the generic rule reads a file, or `None` when it does not read it.
pub fn format_of(name: &str) -> Option<Format> {
    if LOCKFILES.contains(&name) {
        return None;
    }
    if is_dotenv(name) {
        return Some(Format::Dotenv);
    }
    if matches!(
        name,
        "credentials" | ".pypirc" | ".npmrc" | ".yarnrc" | ".my.cnf" | "my.cnf"
    ) {
        return Some(Format::Lines);
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())?;
    match ext.as_str() {
        "properties" | "ini" | "cfg" | "conf" | "toml" | "yaml" | "yml" | "tf" | "tfvars"
        | "hcl" | "npmrc" | "pypirc" => Some(Format::Lines),
        "json" => Some(Format::Json),
        "xml" | "config" => Some(Format::Xml),
        _ => None,
    }
}

/// Splits `KEY=value`, `export KEY=value`, `- KEY=value`, `key: value` and `"key": "value",`
/// lines. An unquoted value ends at ` #`, which starts a comment in dotenv, YAML and TOML.
pub fn split_assignment(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with("//") || line.starts_with(';') {
        return None;
    }
    let line = line.strip_prefix("export ").unwrap_or(line);
    let line = line.strip_prefix("- ").unwrap_or(line);
    let split_at = line.find(['=', ':'])?;
    let key = line[..split_at]
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    let raw = line[split_at + 1..].trim().trim_end_matches(',').trim();
    let value = match raw.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let inner = &raw[1..];
            inner.find(quote).map_or(inner, |end| &inner[..end])
        }
        _ => raw.split(" #").next().unwrap_or(raw).trim(),
    };
    if key.is_empty() || key.contains(char::is_whitespace) || value.is_empty() {
        return None;
    }
    Some((key, value))
}

/// Words that, inside a value, mark it as a template or an instruction, not a secret.
const STOP_WORDS: &[&str] = &[
    "example",
    "sample",
    "dummy",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "changeit",
    "your_",
    "your-",
    "yourpassword",
    "yoursecret",
    "xxxx",
    "****",
    "redacted",
    "fixme",
    "todo",
    "replace",
    "notasecret",
    "not_a_secret",
    "not-a-secret",
    "process.env",
    "os.environ",
    "getenv",
    "secretkeyref",
    "valuefrom",
];

/// Returns whether a value is a reference or template rather than a secret: a placeholder
/// (see [`names::is_placeholder`]), a stop word, a file path, a URL without credentials, a
/// YAML tag (`!vault`), or a sops-encrypted value (`ENC[…]`).
pub fn is_non_secret_value(value: &str) -> bool {
    if names::is_placeholder(value) {
        return true;
    }
    let lower = value.to_ascii_lowercase();
    if STOP_WORDS.iter().any(|w| lower.contains(w)) {
        return true;
    }
    let path = (value.starts_with('/') || value.starts_with("./") || value.starts_with("~/"))
        && !value.contains(char::is_whitespace);
    let url =
        (lower.starts_with("http://") || lower.starts_with("https://")) && !value.contains('@');
    path || url || value.starts_with('!') || value.starts_with("ENC[")
}

/// Returns whether `value` under `key` is reported. `require_random` applies what files
/// other than `.env` need: at least 8 characters, 3 bits of entropy per character, and no
/// whitespace (`challengePassword = A challenge password` is a prompt, not a password).
pub fn is_reported(key: &str, value: &str, require_random: bool) -> bool {
    if !names::is_secret_name(key) || is_non_secret_value(value) {
        return false;
    }
    !require_random
        || (value.len() >= 8
            && !value.contains(char::is_whitespace)
            && names::shannon_entropy(value) >= 3.0)
}

/// One reported assignment: the value's byte range in the scanned text.
pub struct Found {
    pub value: Range<usize>,
}

static JSON_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?-u)"((?:[^"\\\r\n]|\\.){1,64})"\s*:\s*"((?:[^"\\\r\n]|\\.){1,512})""#)
        .expect("the JSON pair pattern compiles")
});

static XML_ELEMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u)<([A-Za-z_][\w.:-]{0,63})>([^<>\r\n]{1,256})</([A-Za-z_][\w.:-]{0,63})>")
        .expect("the XML element pattern compiles")
});

static XML_SETTING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?-u)<add\s+key="([^"]{1,64})"\s+value="([^"]{1,512})""#)
        .expect("the XML setting pattern compiles")
});

/// Finds reported assignments in `text` read as `format`. For line formats only lines that
/// start at or after `from` are read, so that a chunked scan reads each line once.
pub fn find(text: &[u8], format: Format, from: usize) -> Vec<Found> {
    match format {
        Format::Dotenv | Format::Lines => find_in_lines(text, format == Format::Dotenv, from),
        Format::Json => find_pairs(text, &JSON_PAIR, None),
        Format::Xml => {
            let mut found = find_pairs(text, &XML_ELEMENT, Some(3));
            found.extend(find_pairs(text, &XML_SETTING, None));
            found
        }
    }
}

fn find_in_lines(text: &[u8], dotenv: bool, from: usize) -> Vec<Found> {
    let mut found = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive(|b| *b == b'\n') {
        let line_start = start;
        start += line.len();
        if line_start < from {
            continue;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let Some((key, value)) = split_assignment(line) else {
            continue;
        };
        if is_reported(key, value, !dotenv) {
            let offset = value.as_ptr() as usize - line.as_ptr() as usize;
            let begin = line_start + offset;
            found.push(Found {
                value: begin..begin + value.len(),
            });
        }
    }
    found
}

/// Finds `key`/`value` capture pairs (groups 1 and 2); with `closing`, that group must repeat
/// the key, as an XML end tag does.
fn find_pairs(text: &[u8], pattern: &Regex, closing: Option<usize>) -> Vec<Found> {
    let mut found = Vec::new();
    for captures in pattern.captures_iter(text) {
        let (Some(key), Some(value)) = (captures.get(1), captures.get(2)) else {
            continue;
        };
        if let Some(group) = closing
            && captures.get(group).map(|m| m.as_bytes()) != Some(key.as_bytes())
        {
            continue;
        }
        let (Ok(key_text), Ok(value_text)) = (
            std::str::from_utf8(key.as_bytes()),
            std::str::from_utf8(value.as_bytes()),
        ) else {
            continue;
        };
        if is_reported(key_text, value_text.trim(), true) {
            found.push(Found {
                value: value.range(),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str, format: Format) -> Vec<&str> {
        find(text.as_bytes(), format, 0)
            .into_iter()
            .map(|f| &text[f.value])
            .collect()
    }

    #[test]
    fn split_handles_quotes_comments_and_lists() {
        assert_eq!(split_assignment("export A=b"), Some(("A", "b")));
        assert_eq!(
            split_assignment("  - POSTGRES_PASSWORD=Xk9pL2vQ8m"),
            Some(("POSTGRES_PASSWORD", "Xk9pL2vQ8m"))
        );
        assert_eq!(
            split_assignment(r#""password": "a b # c","#),
            Some(("password", "a b # c"))
        );
        assert_eq!(
            split_assignment("token: abcdef # rotated monthly"),
            Some(("token", "abcdef"))
        );
        assert_eq!(split_assignment("# KEY=value"), None);
        assert_eq!(split_assignment("KEY="), None);
    }

    #[test]
    fn dotenv_takes_any_real_value() {
        assert_eq!(
            values("DB_PASSWORD=hunter2-prod\nPORT=3000\n", Format::Dotenv),
            vec!["hunter2-prod"]
        );
    }

    #[test]
    fn other_files_need_random_values() {
        assert!(values("password: prod\n", Format::Lines).is_empty());
        assert_eq!(
            values("db_password: Xk9pL2vQ8mZ3rT7w\n", Format::Lines),
            vec!["Xk9pL2vQ8mZ3rT7w"]
        );
    }

    #[test]
    fn references_and_stop_words_stay_quiet() {
        for value in [
            "${DB_PASSWORD}",
            "{{ .Values.db.password }}",
            "<your-key>",
            "op://vault/item/field",
            "changeme",
            "xxxxxxxxxxxx",
            "/run/secrets/db_password",
            "https://vault.internal/v1/secret",
            "ENC[AES256_GCM,data:Tr7o=,iv:1=,tag:2=,type:str]",
            "!vault |",
            "your_api_key_goes_here",
            "example-Xk9pL2vQ8mZ3",
        ] {
            assert!(is_non_secret_value(value), "{value:?} should stay quiet");
            assert!(!is_reported("API_TOKEN", value, false), "{value:?}");
        }
    }

    #[test]
    fn minified_json_pairs_are_found() {
        let text = r#"{"db":{"host":"db","password":"Vq9Lm2Xk7Pz4Rt6w"},"apiKey":"${KEY}"}"#;
        assert_eq!(values(text, Format::Json), vec!["Vq9Lm2Xk7Pz4Rt6w"]);
    }

    #[test]
    fn xml_elements_and_settings_are_found() {
        let text = "<server><id>repo</id><password>Vq9Lm2Xk7Pz4Rt6w</password></server>\n<add key=\"ApiSecret\" value=\"Zq3v8LpXk2mN9rT5\" />\n<password>changeme</password>";
        assert_eq!(
            values(text, Format::Xml),
            vec!["Vq9Lm2Xk7Pz4Rt6w", "Zq3v8LpXk2mN9rT5"]
        );
    }

    #[test]
    fn mismatched_xml_tags_are_ignored() {
        assert!(values("<password>Vq9Lm2Xk7Pz4Rt6w</user>", Format::Xml).is_empty());
    }

    #[test]
    fn lines_before_from_are_skipped() {
        let text = "A_TOKEN=Xk9pL2vQ8mZ3\nB_TOKEN=Qw8Er7Ty6Ui5\n";
        let found = find(text.as_bytes(), Format::Dotenv, 5);
        assert_eq!(found.len(), 1);
        assert_eq!(&text[found[0].value.clone()], "Qw8Er7Ty6Ui5");
    }

    #[test]
    fn lockfiles_are_not_read() {
        assert_eq!(format_of("package-lock.json"), None);
        assert_eq!(format_of(".env.production"), Some(Format::Dotenv));
        assert_eq!(format_of("settings.xml"), Some(Format::Xml));
        assert_eq!(format_of("index.js"), None);
    }
}
