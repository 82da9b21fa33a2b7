use super::*;

fn rule_ids(path: &str, text: &str) -> Vec<&'static str> {
    Scanner::new()
        .scan_file(path, text.as_bytes())
        .into_iter()
        .map(|m| m.rule_id)
        .collect()
}

#[test]
fn provider_formats_fire() {
    let cases = [
        ("aws-access-key-id", "key = AKIAZ7QK4MWN3XJ5RT2P\n"),
        (
            "aws-secret-access-key",
            "aws_secret_access_key = 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\n",
        ),
        (
            "github-token",
            "token: ghp_Q9x8W7v6U5t4S3r2Q1p0O9n8M7l6K5j4I3h2\n",
        ),
        ("gitlab-token", "GITLAB=glpat-Xy7Zq2Lm9Pk4Rt6Vw8Nb\n"),
        (
            "slack-token",
            "xoxb-2848372910-7263548192-Qw8Er7Ty6Ui5Op4As3Df2\n",
        ),
        (
            "stripe-live-key",
            "const k = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc9Xq';\n",
        ),
        (
            "npm-token",
            "NPM=npm_Zq8Xw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7\n",
        ),
        (
            "url-credentials",
            "DATABASE_URL=postgres://app:Vq9Lm2Xk7Pz4@db.internal:5432/app\n",
        ),
        (
            "jwt",
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\n",
        ),
    ];
    for (rule, text) in cases {
        let found = rule_ids("/app/config.txt", text);
        assert!(
            found.contains(&rule),
            "{rule} did not fire on {text:?}: {found:?}"
        );
    }
}

#[test]
fn private_key_fires() {
    let text = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACB7hQ2r0k\n-----END OPENSSH PRIVATE KEY-----\n";
    let matches = Scanner::new().scan_file("/root/.ssh/id_ed25519", text.as_bytes());
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].rule_id, "private-key");
    assert!(
        matches[0]
            .masked
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
    );
    assert!(!matches[0].masked.contains("b3Bl"));
}

#[test]
fn documented_examples_stay_quiet() {
    let text = "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n";
    assert!(rule_ids("/root/.aws/credentials", text).is_empty());
}

#[test]
fn placeholders_stay_quiet() {
    let text = "DB_PASSWORD=${DB_PASSWORD}\nAPI_TOKEN=op://vault/item/field\nSECRET_KEY=changeme\n//registry.npmjs.org/:_authToken=${NPM_TOKEN}\nREDIS_URL=redis://user:${REDIS_PASSWORD}@cache:6379\n";
    assert!(
        rule_ids("/app/.env", text).is_empty(),
        "{:?}",
        rule_ids("/app/.env", text)
    );
}

#[test]
fn dotenv_without_secrets_is_quiet() {
    assert!(rule_ids("/app/.env", "PORT=3000\nNODE_ENV=production\n").is_empty());
}

#[test]
fn dotenv_password_fires() {
    let found = rule_ids("/app/.env", "PORT=3000\nDATABASE_PASSWORD=hunter2-prod\n");
    assert_eq!(found, vec![ASSIGNMENT_RULE_ID]);
}

#[test]
fn assignment_in_yaml_needs_entropy() {
    assert!(rule_ids("/app/config.yaml", "password: prod\n").is_empty());
    let found = rule_ids("/app/config.yaml", "db_password: Xk9pL2vQ8mZ3rT7w\n");
    assert_eq!(found, vec![ASSIGNMENT_RULE_ID]);
}

#[test]
fn lockfile_integrity_is_quiet() {
    let text = r#"{"packages":{"node_modules/next":{"integrity":"sha512-Xk9pL2vQ8mZ3rT7wBn4Yc6Ud1Ef5Gh0Ij8Kl3Mn7Op2Qr4St6Uv9Wx1Yz5Ab7Cd3Ef9Gh2Ij4Kl6Mn8Op0Qr==","resolved":"https://registry.npmjs.org/next/-/next-14.2.3.tgz"}}}"#;
    assert!(rule_ids("/app/package-lock.json", text).is_empty());
}

#[test]
fn binary_content_is_skipped() {
    let mut content = b"\x7fELF\x02\x01\x01\0".to_vec();
    content.extend_from_slice(b"npm_Zq8Xw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7");
    assert!(
        Scanner::new()
            .scan_file("/usr/bin/tool", &content)
            .is_empty()
    );
}

#[test]
fn provider_match_wins_over_assignment() {
    let matches = Scanner::new().scan_file(
        "/app/.env",
        b"STRIPE_SECRET_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc9Xq\n",
    );
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].rule_id, "stripe-live-key");
}

#[test]
fn mask_never_shows_the_body() {
    let secret = "npm_Zq8Xw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7";
    let masked = mask(secret);
    assert_eq!(masked, "npm_******** (40 chars)");
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
    let matches = Scanner::new().scan_file(
        "/app/x.js",
        b"a\nb\nconst t='ghp_Q9x8W7v6U5t4S3r2Q1p0O9n8M7l6K5j4I3h2'\n",
    );
    assert_eq!(matches[0].line, Some(3));
}

#[test]
fn doc_paths_are_out_of_scope() {
    let scanner = Scanner::new();
    assert!(!scanner.wants_file("/usr/share/doc/awscli/README", 100));
    assert!(!scanner.wants_file("/app/logo.png", 100));
    assert!(scanner.wants_file("/app/node_modules/x/index.js", 100));
    assert!(scanner.wants_file("/app/.next/server/app.js", 100));
    assert!(!scanner.wants_file("/app/big.json", MAX_SCANNED_FILE_BYTES + 1));
}

#[test]
fn npm_package_docs_are_out_of_scope() {
    let scanner = Scanner::new();
    assert!(!scanner.wants_file("/usr/local/lib/node_modules/npm/docs/content/npmrc.md", 100));
    assert!(!scanner.wants_file("/usr/local/lib/node_modules/npm/man/man5/npmrc.5", 100));
    assert!(scanner.wants_file("/app/node_modules/config/index.js", 100));
}

#[test]
fn npmrc_rule_only_reads_npmrc_files() {
    let text = "//registry.npmjs.org/:_authToken=9f86d081-884c-4d63-9a2f-2a4b8c1e7d55\n";
    assert_eq!(rule_ids("/root/.npmrc", text), vec!["npmrc-auth"]);
    assert!(rule_ids("/app/README.txt", text).is_empty());
}

#[test]
fn token_inside_url_is_reported_once() {
    let text = "https://bot:ghp_Q9x8W7v6U5t4S3r2Q1p0O9n8M7l6K5j4I3h2@github.com\n";
    assert_eq!(
        rule_ids("/app/.git-credentials", text),
        vec!["github-token"]
    );
}

#[test]
fn documentation_urls_are_quiet() {
    assert!(rule_ids("/app/Tiny.pm", "C<http://user:pass@proxy.example.com/>.\n").is_empty());
}
