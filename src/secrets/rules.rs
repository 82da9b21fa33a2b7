//! The built-in secret rules: one entry per credential format, each with the keywords that
//! must appear before its regex runs.

use crate::severity::Severity;

/// One credential format.
pub struct Rule {
    /// Stable kebab-case id, used in reports and ignore files.
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    /// Lower-case strings of which at least one must occur (case-insensitively) in the text
    /// before the regex runs.
    pub keywords: &'static [&'static str],
    pub pattern: &'static str,
    /// Capture group that contains the secret itself; 0 for the whole match.
    pub secret_group: usize,
    /// Minimum Shannon entropy (bits per character) of the secret; 0.0 disables the check.
    pub min_entropy: f64,
    /// File names the rule is limited to when scanning files; empty for any file.
    pub file_names: &'static [&'static str],
}

pub const RULES: &[Rule] = &[
    Rule {
        id: "aws-access-key-id",
        title: "AWS access key ID",
        severity: Severity::High,
        keywords: &["akia", "asia", "abia", "acca"],
        pattern: r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
        secret_group: 1,
        min_entropy: 3.0,
        file_names: &[],
    },
    Rule {
        id: "aws-secret-access-key",
        title: "AWS secret access key",
        severity: Severity::Critical,
        keywords: &["secret_access_key", "secretaccesskey", "aws_secret"],
        pattern: r#"(?i)(?:aws_?secret_?access_?key|secretaccesskey)["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|$)"#,
        secret_group: 1,
        min_entropy: 3.5,
        file_names: &[],
    },
    Rule {
        id: "github-token",
        title: "GitHub token",
        severity: Severity::Critical,
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        pattern: r"\b(gh[pousr]_[A-Za-z0-9]{36,255})\b",
        secret_group: 1,
        min_entropy: 3.0,
        file_names: &[],
    },
    Rule {
        id: "github-fine-grained-token",
        title: "GitHub fine-grained personal access token",
        severity: Severity::Critical,
        keywords: &["github_pat_"],
        pattern: r"\b(github_pat_[A-Za-z0-9_]{82})\b",
        secret_group: 1,
        min_entropy: 3.0,
        file_names: &[],
    },
    Rule {
        id: "gitlab-token",
        title: "GitLab personal access token",
        severity: Severity::Critical,
        keywords: &["glpat-"],
        pattern: r"\b(glpat-[A-Za-z0-9_\-]{20,})\b",
        secret_group: 1,
        min_entropy: 3.0,
        file_names: &[],
    },
    Rule {
        id: "slack-token",
        title: "Slack token",
        severity: Severity::High,
        keywords: &["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"],
        pattern: r"\b(xox[baprs]-[0-9A-Za-z-]{10,})\b",
        secret_group: 1,
        min_entropy: 3.0,
        file_names: &[],
    },
    Rule {
        id: "slack-webhook",
        title: "Slack incoming webhook URL",
        severity: Severity::High,
        keywords: &["hooks.slack.com"],
        pattern: r"(https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{20,})",
        secret_group: 1,
        min_entropy: 0.0,
        file_names: &[],
    },
    Rule {
        id: "stripe-live-key",
        title: "Stripe live secret key",
        severity: Severity::Critical,
        keywords: &["sk_live_", "rk_live_"],
        pattern: r"\b((?:sk|rk)_live_[A-Za-z0-9]{20,})\b",
        secret_group: 1,
        min_entropy: 3.0,
        file_names: &[],
    },
    Rule {
        id: "npm-token",
        title: "npm access token",
        severity: Severity::Critical,
        keywords: &["npm_"],
        pattern: r"\b(npm_[A-Za-z0-9]{36})\b",
        secret_group: 1,
        min_entropy: 3.0,
        file_names: &[],
    },
    Rule {
        id: "npmrc-auth",
        title: "npm registry credential in .npmrc",
        severity: Severity::High,
        keywords: &["_authtoken", "_auth", "_password"],
        pattern: r#"(?m)(?:_authToken|_auth|_password)\s*=\s*["']?([^\s"']{8,})"#,
        secret_group: 1,
        min_entropy: 0.0,
        file_names: &[".npmrc", "npmrc"],
    },
    Rule {
        id: "private-key",
        title: "Private key",
        severity: Severity::Critical,
        keywords: &["private key"],
        pattern: r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----\s*[A-Za-z0-9+/=\r\n:,\-\s]{40,}?-----END",
        secret_group: 0,
        min_entropy: 0.0,
        file_names: &[],
    },
    Rule {
        id: "gcp-service-account-key",
        title: "Google Cloud service account key",
        severity: Severity::Critical,
        keywords: &["private_key_id"],
        pattern: r#""private_key_id"\s*:\s*"([a-f0-9]{40})""#,
        secret_group: 1,
        min_entropy: 3.0,
        file_names: &[],
    },
    Rule {
        id: "docker-config-auth",
        title: "Registry credential in a Docker config.json",
        severity: Severity::High,
        keywords: &["\"auths\""],
        pattern: r#""auth"\s*:\s*"([A-Za-z0-9+/]{8,}={0,2})""#,
        secret_group: 1,
        min_entropy: 2.5,
        file_names: &["config.json", "auth.json", ".dockercfg"],
    },
    Rule {
        id: "url-credentials",
        title: "Password in a connection string or URL",
        severity: Severity::High,
        keywords: &["://"],
        pattern: r#"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|https?|ftps?|sftp|smtps?|ldaps?)://[^:/\s"'@<>]{1,64}:([^@\s"'/<>]{3,128})@[A-Za-z0-9._\-\[\]]+"#,
        secret_group: 1,
        min_entropy: 0.0,
        file_names: &[],
    },
    Rule {
        id: "onepassword-service-account-token",
        title: "1Password service account token",
        severity: Severity::Critical,
        keywords: &["ops_ey"],
        pattern: r"\b(ops_eyJ[A-Za-z0-9+/=_\-]{100,})",
        secret_group: 1,
        min_entropy: 3.0,
        file_names: &[],
    },
    Rule {
        id: "jwt",
        title: "JSON Web Token",
        severity: Severity::Medium,
        keywords: &["eyj"],
        pattern: r"\b(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{16,})",
        secret_group: 1,
        min_entropy: 3.0,
        file_names: &[],
    },
];

/// Id of the rule for `NAME=value` lines whose name marks a credential, in `.env`, properties,
/// INI and YAML files.
pub const ASSIGNMENT_RULE_ID: &str = "secret-assignment";
pub const ASSIGNMENT_RULE_TITLE: &str = "Credential assigned to a secret-named key";

/// Published example credentials that documentation and SDKs ship.
pub const KNOWN_EXAMPLES: &[&str] = &[
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AKIAI44QH8DHBEXAMPLE",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
];
