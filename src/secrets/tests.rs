use super::rule_tests::{ALNUM, BASE64, HEX, fake};
use super::*;

fn rule_ids(path: &str, text: &str) -> Vec<String> {
    Scanner::new()
        .scan_file(path, text.as_bytes())
        .into_iter()
        .map(|m| m.rule_id)
        .collect()
}

fn npm_token(seed: u64) -> String {
    format!("npm_{}", fake(ALNUM, 36, seed))
}

fn github_token(seed: u64) -> String {
    format!("ghp_{}", fake(ALNUM, 36, seed))
}

#[test]
fn private_key_mask_hides_the_body() {
    let body = fake(BASE64, 64, 1);
    let text = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n{body}\n-----END OPENSSH PRIVATE KEY-----\n"
    );
    let matches = Scanner::new().scan_file("/root/.ssh/id_ed25519", text.as_bytes());
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].rule_id, "private-key");
    assert!(
        matches[0]
            .masked
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
    );
    assert!(!matches[0].masked.contains(&body[..8]));
    assert_eq!(matches[0].excerpt, None);
}

#[test]
fn dotenv_without_secrets_is_quiet() {
    assert!(rule_ids("/app/.env", "PORT=3000\nNODE_ENV=production\n").is_empty());
}

#[test]
fn binary_content_runs_only_binary_rules() {
    let mut content = b"\x7fELF\x02\x01\x01\0".to_vec();
    content.extend_from_slice(format!(" {} ", npm_token(2)).as_bytes());
    content.extend_from_slice(b"\nDB_PASSWORD=hunter2-prod\n");
    let found = Scanner::new().scan_file("/usr/local/bin/tool.env", &content);
    let ids: Vec<&str> = found.iter().map(|m| m.rule_id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["npm-token"],
        "the generic rule does not read binaries"
    );
}

#[test]
fn provider_match_wins_over_assignment() {
    let text = format!("STRIPE_SECRET_KEY=sk_live_{}\n", fake(ALNUM, 24, 3));
    assert_eq!(rule_ids("/app/.env", &text), vec!["stripe-live-key"]);
}

#[test]
fn mask_never_shows_the_body() {
    let secret = npm_token(4);
    assert_eq!(mask(&secret), "npm_******** (40 chars)");
    assert_eq!(mask("hunter2"), "******** (7 chars)");
}

#[test]
fn fingerprint_is_stable_and_short() {
    let a = fingerprint("npm-token", "npm_x");
    assert_eq!(a, fingerprint("npm-token", "npm_x"));
    assert_ne!(a, fingerprint("npm-token", "npm_y"));
    assert_eq!(a.len(), "sha256:".len() + 16);
}

#[test]
fn line_numbers_are_one_based() {
    let text = format!("a\nb\nconst t='{}'\n", github_token(5));
    let matches = Scanner::new().scan_file("/app/x.js", text.as_bytes());
    assert_eq!(matches[0].line, Some(3));
}

#[test]
fn excerpt_masks_the_secret_and_keeps_the_key() {
    let token = npm_token(6);
    let text = format!("//registry.npmjs.org/:_authToken={token}\n");
    let matches = Scanner::new().scan_file("/root/.npmrc", text.as_bytes());
    let excerpt = matches[0].excerpt.clone().unwrap();
    assert_eq!(excerpt, "//registry.npmjs.org/:_authToken=npm_********");
    assert!(!excerpt.contains(&token[4..12]));
}

#[test]
fn excerpt_hides_a_second_token_on_the_line() {
    let first = github_token(7);
    let second = fake(ALNUM, 30, 8) + "9";
    let text = format!("a={second} b={first}\n");
    let matches = Scanner::new().scan_file("/app/x.sh", text.as_bytes());
    let excerpt = matches[0].excerpt.clone().unwrap();
    assert!(!excerpt.contains(&second[..12]), "{excerpt}");
}

#[test]
fn repeated_secret_reported_once() {
    let token = github_token(9);
    let text = format!("A={token}\nB={token}\n");
    let matches = Scanner::new().scan_file("/app/x.sh", text.as_bytes());
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].line, Some(1));
}

#[test]
fn token_inside_url_is_reported_once() {
    let text = format!("https://bot:{}@github.com\n", github_token(10));
    assert_eq!(
        rule_ids("/app/.git-credentials", &text),
        vec!["github-token"]
    );
}

#[test]
fn config_text_has_no_line_or_excerpt() {
    let found = Scanner::new().scan_config_text("config.Env", &npm_token(11));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].line, None);
    assert_eq!(found[0].excerpt, None);
}

#[test]
fn file_specific_rules_skip_config_text() {
    let text = format!("_authToken={}-{}", fake(HEX, 8, 12), fake(HEX, 12, 13));
    assert!(Scanner::new().scan_text(&text).is_empty());
}

#[test]
fn named_values_are_judged() {
    let scanner = Scanner::new();
    let found = scanner
        .judge_named_value("config.Env", "DATABASE_PASSWORD", "hunter2-prod")
        .unwrap();
    assert_eq!(found.rule_id, NAMED_VARIABLE_RULE_ID);
    assert!(
        scanner
            .judge_named_value("config.Env", "DB_PASSWORD", "${DB_PASSWORD}")
            .is_none()
    );
    assert!(
        scanner
            .judge_named_value("config.Env", "DB_PASSWORD", "/run/secrets/db")
            .is_none()
    );
    assert!(
        scanner
            .judge_named_value("config.Env", "KEYCLOAK_VERSION", "24.0.1")
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Scope

#[test]
fn scope_excludes_docs_and_large_files() {
    let scanner = Scanner::new();
    assert!(!scanner.wants_file("/usr/share/doc/awscli/README", 100));
    assert!(!scanner.wants_file("/app/logo.png", 100));
    assert!(scanner.wants_file("/app/node_modules/x/index.js", 100));
    assert!(scanner.wants_file("/app/.next/server/app.js", 100));
    assert!(!scanner.wants_file("/app/empty.js", 0));
    let max = scanner.limits().max_file_bytes;
    assert!(scanner.wants_file("/app/big.json", max));
    assert!(!scanner.wants_file("/app/big.json", max + 1));
}

#[test]
fn skip_counts_reach_the_summary() {
    let scanner = Scanner::new();
    scanner.wants_file("/usr/share/doc/a/README", 10);
    scanner.wants_file("/usr/share/doc/b/README", 10);
    scanner.wants_file("/app/huge.log", u64::MAX);
    let summary = scanner.summary();
    let count = |rule: &str| {
        summary
            .skipped
            .iter()
            .find(|s| s.rule == rule)
            .map(|s| s.files)
    };
    assert_eq!(count("distro-documentation"), Some(2));
    assert_eq!(count("too-large"), Some(1));
    assert_eq!(count("binary-formats"), Some(0));
}

// ---------------------------------------------------------------------------------------------
// Chunked scanning

/// Builds a text of about `size` bytes of harmless lines with `token` at line `line`.
fn big_text(size: usize, token_line: usize, token: &str) -> String {
    let mut text = String::with_capacity(size + 100);
    let mut line = 1;
    while text.len() < size {
        if line == token_line {
            text.push_str(&format!("const t = '{token}';\n"));
        } else {
            text.push_str("let value = compute(previous, 42); // filler\n");
        }
        line += 1;
    }
    text
}

#[test]
fn secret_across_a_chunk_boundary_is_found_once() {
    let token = github_token(20);
    // Each filler line is 46 bytes; this line starts a few bytes before the 1 MiB mark.
    let line = engine::CHUNK_BYTES / 46;
    let text = big_text(3 * engine::CHUNK_BYTES, line, &token);
    let scanner = Scanner::new();
    let matches = scanner.scan_file("/app/bundle.js", text.as_bytes());
    assert_eq!(matches.len(), 1, "{matches:?}");
    assert_eq!(matches[0].line, Some(line));
    assert_eq!(scanner.summary().files_scanned_in_chunks, 1);
}

#[test]
fn secrets_in_every_chunk_get_right_lines() {
    let scanner = Scanner::new();
    let mut text = String::new();
    let mut expected = Vec::new();
    let mut line = 0;
    for chunk in 0..4u64 {
        let target = (chunk as usize + 1) * engine::CHUNK_BYTES - 200;
        while text.len() < target {
            text.push_str("filler line without secrets in it\n");
            line += 1;
        }
        text.push_str(&format!("K{chunk}={}\n", npm_token(30 + chunk)));
        line += 1;
        expected.push(Some(line));
    }
    let matches = scanner.scan_file("/app/data.txt", text.as_bytes());
    let lines: Vec<Option<usize>> = matches.iter().map(|m| m.line).collect();
    assert_eq!(lines, expected);
}

#[test]
fn private_key_across_a_boundary_is_found() {
    let body: Vec<String> = (0..40).map(|i| fake(BASE64, 64, 100 + i)).collect();
    let key = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        body.join("\n")
    );
    let mut text = "x".repeat(engine::CHUNK_BYTES - 1000);
    text.push('\n');
    text.push_str(&key);
    let matches = Scanner::new().scan_file("/app/blob.txt", text.as_bytes());
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].line, Some(2));
}

#[test]
fn dotenv_lines_across_chunks_are_read_once() {
    let mut text = String::new();
    let mut line = 0;
    while text.len() < engine::CHUNK_BYTES - 10 {
        text.push_str("COMMENT_PADDING=some ordinary value\n");
        line += 1;
    }
    text.push_str("API_SECRET=Xk9pL2vQ8mZ3rT7wBn4Yc6Ud\n");
    let matches = Scanner::new().scan_file("/app/.env", text.as_bytes());
    assert_eq!(matches.len(), 1, "{matches:?}");
    assert_eq!(matches[0].line, Some(line + 1));
}

#[test]
fn dotenv_line_longer_than_overlap_is_not_split() {
    // A 200 KiB value crosses the chunk boundary; its tail must not be read as a new line.
    let mut text = "A=1\n".repeat((engine::CHUNK_BYTES - 100_000) / 4);
    text.push_str("LONG=");
    text.push_str(&"a1b2c3d4".repeat(25_000));
    text.push_str("&token=Xk9pL2vQ8mZ3rT7w\nDB_PASSWORD=hunter2-prod\n");
    let matches = Scanner::new().scan_file("/app/.env", text.as_bytes());
    let ids: Vec<&str> = matches.iter().map(|m| m.rule_id.as_str()).collect();
    assert_eq!(ids, vec![ASSIGNMENT_RULE_ID]);
    assert_eq!(matches[0].masked, "******** (12 chars)");
}

#[test]
fn minified_single_line_is_scanned_across_chunks() {
    let token = npm_token(40);
    let mut text = "a".repeat(engine::CHUNK_BYTES - 20);
    text.push_str(&format!(";var t=\"{token}\";"));
    text.push_str(&"b".repeat(engine::CHUNK_BYTES));
    let matches = Scanner::new().scan_file("/app/.next/static/chunks/main.js", text.as_bytes());
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].fingerprint, fingerprint("npm-token", &token));
}

#[test]
fn per_file_limit_truncates_and_is_reported() {
    let mut text = String::new();
    for i in 0..80 {
        text.push_str(&format!("T{i}={}\n", npm_token(200 + i)));
    }
    let scanner = Scanner::new();
    let matches = scanner.scan_file("/app/tokens.txt", text.as_bytes());
    assert_eq!(matches.len(), scanner.limits().max_matches_per_file);
    let summary = scanner.summary();
    assert_eq!(summary.truncated_file_count, 1);
    assert_eq!(summary.truncated_files, vec!["/app/tokens.txt"]);
}

// ---------------------------------------------------------------------------------------------
// Configuration: user rules, allowlists, gitleaks

fn user_rule(id: &str, regex: &str) -> RuleSpec {
    RuleSpec {
        id: id.into(),
        title: "ACME key".into(),
        severity: Severity::Critical,
        keywords: vec!["acme_".into()],
        regex: regex.into(),
        secret_group: Some(1),
        min_entropy: 3.0,
        path: None,
        binary: false,
        ascii: false,
        allowlists: Vec::new(),
        origin: Origin::User,
    }
}

#[test]
fn user_rule_fires_and_respects_entropy() {
    let scanner = Scanner::with_config(&ScannerConfig {
        rules: vec![user_rule("acme-key", r"\b(acme_[a-z0-9]{16})\b")],
        ..ScannerConfig::default()
    })
    .unwrap();
    let text = format!(
        "key = acme_{}\nlow = acme_aaaaaaaaaaaaaaaa\n",
        fake("abcdefghijklmnopqrstuvwxyz0123456789", 16, 50)
    );
    let found = scanner.scan_file("/app/a.conf", text.as_bytes());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule_id, "acme-key");
    assert_eq!(found[0].severity, Severity::Critical);
    assert_eq!(scanner.summary().rules.user, 1);
}

#[test]
fn user_rule_with_bad_regex_is_an_error() {
    let err = Scanner::with_config(&ScannerConfig {
        rules: vec![user_rule("broken", "(")],
        ..ScannerConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("rule \"broken\""), "{err}");
}

#[test]
fn user_rule_cannot_reuse_a_builtin_id() {
    let err = Scanner::with_config(&ScannerConfig {
        rules: vec![user_rule("npm-token", "x")],
        ..ScannerConfig::default()
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::DuplicateId(_)), "{err}");
}

#[test]
fn disabled_rules_do_not_run() {
    let scanner = Scanner::with_config(&ScannerConfig {
        disabled_rules: vec!["npm-token".into()],
        ..ScannerConfig::default()
    })
    .unwrap();
    assert!(
        scanner
            .scan_file("/app/a.txt", npm_token(51).as_bytes())
            .is_empty()
    );
    assert!(
        Scanner::with_config(&ScannerConfig {
            disabled_rules: vec!["no-such-rule".into()],
            ..ScannerConfig::default()
        })
        .is_err()
    );
}

#[test]
fn fingerprint_allowlist_suppresses_and_counts() {
    let token = npm_token(52);
    let print = fingerprint("npm-token", &token);
    let scanner = Scanner::with_config(&ScannerConfig {
        allowlists: vec![AllowlistSpec {
            source: ".imgaudit.toml allowlist 1".into(),
            reason: "revoked test token".into(),
            fingerprints: vec![print],
            ..AllowlistSpec::default()
        }],
        ..ScannerConfig::default()
    })
    .unwrap();
    let text = format!("A={token}\nB={}\n", npm_token(53));
    let found = scanner.scan_file("/app/a.txt", text.as_bytes());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].line, Some(2));
    let summary = scanner.summary();
    assert_eq!(summary.suppressed_total, 1);
    assert_eq!(summary.suppressed[0].reason, "revoked test token");
}

#[test]
fn path_allowlist_suppresses_the_generic_rule_too() {
    let scanner = Scanner::with_config(&ScannerConfig {
        allowlists: vec![AllowlistSpec {
            source: "allowlist 1".into(),
            reason: "fixtures".into(),
            paths: vec!["^/app/test/".into()],
            ..AllowlistSpec::default()
        }],
        ..ScannerConfig::default()
    })
    .unwrap();
    let text = "DATABASE_PASSWORD=hunter2-prod\n";
    assert!(
        scanner
            .scan_file("/app/test/.env", text.as_bytes())
            .is_empty()
    );
    assert_eq!(scanner.scan_file("/app/.env", text.as_bytes()).len(), 1);
}

#[test]
fn allowlist_on_config_field() {
    let scanner = Scanner::with_config(&ScannerConfig {
        allowlists: vec![AllowlistSpec {
            source: "allowlist 1".into(),
            reason: "labels are build metadata".into(),
            paths: vec![r"^config\.Labels$".into()],
            ..AllowlistSpec::default()
        }],
        ..ScannerConfig::default()
    })
    .unwrap();
    assert!(
        scanner
            .judge_named_value("config.Labels", "API_TOKEN", "hunter2-prod")
            .is_none()
    );
    assert!(
        scanner
            .judge_named_value("config.Env", "API_TOKEN", "hunter2-prod")
            .is_some()
    );
}

#[test]
fn suppressed_config_value_is_not_judged_by_name() {
    let token = npm_token(60);
    let scanner = Scanner::with_config(&ScannerConfig {
        allowlists: vec![AllowlistSpec {
            source: "allowlist 1".into(),
            reason: "revoked".into(),
            fingerprints: vec![fingerprint("npm-token", &token)],
            ..AllowlistSpec::default()
        }],
        ..ScannerConfig::default()
    })
    .unwrap();
    assert!(
        scanner
            .scan_config_value("config.Env", "NPM_TOKEN", &token)
            .is_empty()
    );
    let other = scanner.scan_config_value("config.Env", "NPM_TOKEN", "hunter2-prod");
    assert_eq!(other[0].rule_id, NAMED_VARIABLE_RULE_ID);
}

#[test]
fn gitleaks_allowlist_errors_are_warnings() {
    let text = r#"
[[rules]]
id = "k"
regex = '''needle[0-9]+'''
keywords = ["needle"]

[allowlist]
description = "one regex Rust rejects, one written the Go way"
regexes = ['''(?<=x)y''', '''^\$(?:\d+|{\d+})$''']
"#;
    let loaded = gitleaks::parse(text, "g.toml").unwrap();
    let scanner = Scanner::with_config(&ScannerConfig {
        rules: loaded.rules,
        allowlists: loaded.allowlists,
        ..ScannerConfig::default()
    })
    .unwrap();
    assert!(
        scanner
            .warnings()
            .iter()
            .any(|w| w.contains("allowlist is skipped")),
        "{:?}",
        scanner.warnings()
    );
    assert_eq!(scanner.scan_file("/app/x.txt", b"needle123\n").len(), 1);
}

#[test]
fn gitleaks_rule_fields_apply() {
    let loaded = gitleaks::parse(
        r#"
[[rules]]
id = "acme-key"
description = "ACME key"
regex = '''(?i)acme[_-]?key\s*=\s*(acme_[a-z0-9]{16})'''
secretGroup = 1
entropy = 3.0
keywords = ["ACME"]

  [[rules.allowlists]]
  description = "the fixture key"
  stopwords = ["fixture"]

[[rules]]
id = "no-compile"
regex = '''(?<=x)y'''
"#,
        "gitleaks.toml",
    )
    .unwrap();
    let scanner = Scanner::with_config(&ScannerConfig {
        rules: loaded.rules,
        allowlists: loaded.allowlists,
        warnings: loaded.warnings,
        ..ScannerConfig::default()
    })
    .unwrap();
    assert!(
        scanner
            .warnings()
            .iter()
            .any(|w| w.contains("gitleaks:no-compile")),
        "{:?}",
        scanner.warnings()
    );
    let real = format!(
        "ACME_KEY = acme_{}\n",
        fake("abcdefghijklmnopqrstuvwxyz0123456789", 16, 54)
    );
    let found = scanner.scan_file("/app/a.conf", real.as_bytes());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule_id, "gitleaks:acme-key");
    assert!(
        scanner
            .scan_file("/app/a.conf", b"acme_key = acme_fixture00000abcd\n")
            .is_empty()
    );
    assert!(
        scanner
            .scan_file("/app/a.conf", b"acme_key = acme_aaaaaaaaaaaaaaaa\n")
            .is_empty(),
        "below the entropy floor"
    );
    assert_eq!(scanner.summary().suppressed_total, 1);
}

#[test]
fn gitleaks_default_secret_group_is_first_non_empty() {
    let loaded = gitleaks::parse(
        "[[rules]]\nid = \"pair\"\nregex = '''(?:a=(\\w+)|b=(\\w+))'''\nkeywords = [\"b=\"]\n",
        "g.toml",
    )
    .unwrap();
    let scanner = Scanner::with_config(&ScannerConfig {
        rules: loaded.rules,
        ..ScannerConfig::default()
    })
    .unwrap();
    let found = scanner.scan_file("/app/x.txt", b"b=Zq8Xw7Vu6Ts5\n");
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].fingerprint,
        fingerprint("gitleaks:pair", "Zq8Xw7Vu6Ts5")
    );
}

#[test]
fn gitleaks_keywords_gate_the_rule() {
    let loaded = gitleaks::parse(
        "[[rules]]\nid = \"k\"\nregex = '''secretvalue[0-9]+'''\nsecretGroup = 0\nkeywords = [\"needle\"]\n",
        "g.toml",
    )
    .unwrap();
    let scanner = Scanner::with_config(&ScannerConfig {
        rules: loaded.rules,
        ..ScannerConfig::default()
    })
    .unwrap();
    assert!(
        scanner
            .scan_file("/app/x.txt", b"secretvalue123\n")
            .is_empty()
    );
    assert_eq!(
        scanner
            .scan_file("/app/x.txt", b"NEEDLE secretvalue123\n")
            .len(),
        1
    );
}
