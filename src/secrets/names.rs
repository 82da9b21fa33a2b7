//! Judges variable names and values: is `NAME=value` a credential by its name, and is the value
//! a real one or a placeholder? Shared by the config check (Env, Labels, history) and the
//! file rules for `.env`-style assignments.

/// Name tokens that mark a credential on their own.
const SECRET_TOKENS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PASSPHRASE",
    "SECRET",
    "SECRETS",
    "TOKEN",
    "CREDENTIAL",
    "CREDENTIALS",
    "APIKEY",
    "PRIVATEKEY",
    "ACCESSKEY",
    "AUTHTOKEN",
    "CLIENTSECRET",
    "DSN",
];

/// Adjacent token pairs that mark a credential (`API_KEY`, `AWS_ACCESS_KEY_ID` is not one
/// because its last token is `ID`).
const SECRET_PAIRS: &[(&str, &str)] = &[
    ("API", "KEY"),
    ("ACCESS", "KEY"),
    ("PRIVATE", "KEY"),
    ("SECRET", "KEY"),
    ("AUTH", "KEY"),
    ("SIGNING", "KEY"),
    ("ENCRYPTION", "KEY"),
    ("MASTER", "KEY"),
    ("LICENSE", "KEY"),
    ("SERVICE", "KEY"),
    ("CLIENT", "SECRET"),
];

/// A last token that makes the variable a reference to a secret rather than the secret.
const REFERENCE_SUFFIXES: &[&str] = &[
    "FILE",
    "PATH",
    "DIR",
    "URL",
    "URI",
    "NAME",
    "USER",
    "USERNAME",
    "ID",
    "VERSION",
    "ENABLED",
    "TYPE",
    "LENGTH",
    "HEADER",
    "ENDPOINT",
    "HOST",
    "PORT",
    "EXPIRY",
    "TTL",
    "FORMAT",
    "ALGORITHM",
    "REGION",
    "LOCATION",
    "ARN",
    "FINGERPRINT",
    "HINT",
    "POLICY",
    "MODE",
];

/// Splits a variable name into upper-case tokens on `_`, `-`, `.` and camelCase boundaries.
pub fn name_tokens(name: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower && !current.is_empty() {
            tokens.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_uppercase());
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// Returns whether a variable or key name denotes a credential, matching on whole tokens so
/// that `KEYCLOAK_VERSION` or `YARN_GPG_KEY` do not count.
pub fn is_secret_name(name: &str) -> bool {
    let tokens = name_tokens(name);
    let Some(last) = tokens.last() else {
        return false;
    };
    if REFERENCE_SUFFIXES.contains(&last.as_str()) {
        return false;
    }
    // Helm charts name the Kubernetes Secret to read as `existingSecret`.
    if tokens.first().is_some_and(|t| t == "EXISTING") {
        return false;
    }
    // `PUBLIC_KEY`, `PUBLISHABLE_KEY` and `NEXT_PUBLIC_*` are meant to be shared.
    if tokens.iter().any(|t| t == "PUBLIC" || t == "PUBLISHABLE") {
        return false;
    }
    let single = tokens.iter().any(|t| SECRET_TOKENS.contains(&t.as_str()));
    let pair = tokens
        .windows(2)
        .any(|w| SECRET_PAIRS.contains(&(w[0].as_str(), w[1].as_str())));
    single || pair
}

/// Words that stand in for a value in templates and docs.
const PLACEHOLDER_WORDS: &[&str] = &[
    "changeme",
    "change_me",
    "change-me",
    "changeit",
    "password",
    "passwd",
    "pass",
    "pwd",
    "user",
    "username",
    "foo",
    "foobar",
    "mypassword",
    "mysecret",
    "mytoken",
    "secret",
    "token",
    "example",
    "placeholder",
    "dummy",
    "sample",
    "test",
    "testing",
    "todo",
    "tbd",
    "redacted",
    "null",
    "none",
    "nil",
    "undefined",
    "true",
    "false",
    "empty",
    "default",
    "insert",
    "replaceme",
    "replace_me",
];

/// Returns whether a value is a placeholder or a reference to a secret stored elsewhere:
/// `${VAR}`, `$VAR`, `{{ .Values.x }}`, `<your-key>`, `op://vault/item/field`, `changeme`,
/// `xxxx`, documented example keys.
pub fn is_placeholder(value: &str) -> bool {
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
    if value.len() < 4 {
        return true;
    }
    let lower = value.to_ascii_lowercase();
    let reference = value.starts_with('$')
        || value.contains("${")
        || value.contains("{{")
        || value.contains("%(")
        || (value.starts_with('<') && value.ends_with('>'))
        || (value.starts_with('[') && value.ends_with(']'))
        || lower.starts_with("op://")
        || lower.starts_with("vault:")
        || lower.starts_with("arn:aws:secretsmanager")
        || lower.starts_with("projects/") && lower.contains("/secrets/");
    if reference {
        return true;
    }
    let first = value.chars().next().unwrap_or(' ');
    let repeated = value.chars().all(|c| c == first || c == '-' || c == '_');
    let masked = value
        .chars()
        .filter(|c| *c == '*' || *c == 'x' || *c == 'X')
        .count()
        * 2
        > value.len();
    let word = PLACEHOLDER_WORDS.contains(&lower.as_str());
    let example = lower.contains("example")
        || lower.starts_with("your")
        || lower.contains("-your-")
        || lower.contains("_your_")
        || lower.contains("<your")
        || lower.contains("placeholder")
        || lower.contains("changeme");
    repeated || masked || word || example
}

/// Shannon entropy of a string in bits per character.
pub fn shannon_entropy(value: &str) -> f64 {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for b in bytes {
        counts[*b as usize] += 1;
    }
    let len = bytes.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_fire() {
        for name in [
            "NPM_TOKEN",
            "DATABASE_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "STRIPE_API_KEY",
            "githubToken",
            "DB_PASS",
            "SENTRY_DSN",
            "JWT_SIGNING_KEY",
            "client_secret",
        ] {
            assert!(is_secret_name(name), "{name} should be a secret name");
        }
    }

    #[test]
    fn ordinary_names_stay_quiet() {
        for name in [
            "KEYCLOAK_VERSION",
            "YARN_GPG_KEY",
            "PUBLIC_KEY_PATH",
            "NEXT_PUBLIC_API_URL",
            "PASSWORD_FILE",
            "TOKEN_URL",
            "AWS_ACCESS_KEY_ID",
            "PATH",
            "NODE_VERSION",
            "PASSENGER_APP_ENV",
            "STRIPE_PUBLISHABLE_KEY",
            "PWD",
            "existingSecret",
        ] {
            assert!(!is_secret_name(name), "{name} should not be a secret name");
        }
    }

    #[test]
    fn placeholders_are_recognised() {
        for value in [
            "${DB_PASSWORD}",
            "$NPM_TOKEN",
            "{{ .Values.password }}",
            "<your-key>",
            "op://vault/item/field",
            "changeme",
            "xxxxxxxx",
            "********",
            "AKIAIOSFODNN7EXAMPLE",
            "",
            "abc",
        ] {
            assert!(is_placeholder(value), "{value:?} should be a placeholder");
        }
    }

    #[test]
    fn real_values_are_not_placeholders() {
        for value in [
            "hunter2-Prod!",
            "npm_9f8A7b6C5d4E3f2G1h0IjKlMnOpQrStUvWxY",
            "s3cr3tP@ss",
        ] {
            assert!(
                !is_placeholder(value),
                "{value:?} should not be a placeholder"
            );
        }
    }

    #[test]
    fn entropy_separates_random_from_repeated() {
        assert!(shannon_entropy("aaaaaaaa") < 0.1);
        assert!(shannon_entropy("q8Zk2LmP9xV4rT7w") > 3.5);
    }
}
