//! The built-in secret rules: one entry per credential format, each with the lower-case
//! keywords that must appear before its regex runs.
//!
//! The patterns are written from each provider's documented token format. Rules run in table
//! order, and a match whose secret overlaps one already taken in the same text is dropped, so
//! a specific rule (a Supabase service-role JWT, a Sentry DSN) must come before the general
//! one that would also match (any JWT, any URL with a password).

use super::validate;
use crate::severity::Severity;

/// What kind of service a rule's credential belongs to, for documentation and counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleClass {
    Cloud,
    CodeHost,
    PackageRegistry,
    Payments,
    Messaging,
    Ai,
    Saas,
    PrivateKey,
    ConnectionString,
    Generic,
}

impl RuleClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleClass::Cloud => "cloud",
            RuleClass::CodeHost => "code-host",
            RuleClass::PackageRegistry => "package-registry",
            RuleClass::Payments => "payments",
            RuleClass::Messaging => "messaging",
            RuleClass::Ai => "ai",
            RuleClass::Saas => "saas",
            RuleClass::PrivateKey => "private-key",
            RuleClass::ConnectionString => "connection-string",
            RuleClass::Generic => "generic",
        }
    }
}

/// One built-in credential format.
pub struct Rule {
    /// Stable kebab-case id, used in reports and allowlists.
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub class: RuleClass,
    /// Lower-case strings of which at least one must occur (in any case) in the text before
    /// the regex runs. A rule without keywords runs on every text its `file_names` allow.
    pub keywords: &'static [&'static str],
    pub pattern: &'static str,
    /// Capture group that contains the secret itself; 0 for the whole match.
    pub secret_group: usize,
    /// Minimum Shannon entropy (bits per character) of the secret; 0.0 disables the check.
    pub min_entropy: f64,
    /// File names the rule is limited to when scanning files; empty for any file.
    pub file_names: &'static [&'static str],
    /// Regex that must also match within [`CONTEXT_BYTES`] of the match, for formats that
    /// are only recognisable next to the provider's name (a Twilio `SK…` key, a Mailgun
    /// `key-…`).
    pub context: Option<&'static str>,
    /// Extra check on the secret, such as decoding a JWT's claims.
    pub validate: Option<fn(&str) -> bool>,
    /// Whether the rule also runs on binary files (a NUL byte in the first 8 KiB). Only
    /// prefixed formats that random bytes cannot produce by chance qualify.
    pub binary: bool,
}

/// Bytes on each side of a match that a rule's `context` regex may match in.
pub const CONTEXT_BYTES: usize = 1024;

const BASE: Rule = Rule {
    id: "",
    title: "",
    severity: Severity::High,
    class: RuleClass::Generic,
    keywords: &[],
    pattern: "",
    secret_group: 1,
    min_entropy: 0.0,
    file_names: &[],
    context: None,
    validate: None,
    binary: false,
};

/// All built-in rules, in the order they run. Patterns end a token whose alphabet includes
/// `-` with `(?:[^A-Za-z0-9_-]|$)`, because `\b` would stop inside it.
pub const RULES: &[Rule] = &[
    // ---------------------------------------------------------------------------------------
    // Cloud providers
    Rule {
        id: "aws-access-key-id",
        title: "AWS access key ID",
        class: RuleClass::Cloud,
        keywords: &["akia", "asia", "abia", "acca"],
        pattern: r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "aws-secret-access-key",
        title: "AWS secret access key",
        severity: Severity::Critical,
        class: RuleClass::Cloud,
        keywords: &["secret_access_key", "secretaccesskey", "aws_secret"],
        pattern: r#"(?i)(?:aws_?secret_?(?:access_?)?key|secretaccesskey)["']?\s*(?::|=|=>|,)\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|$)"#,
        min_entropy: 3.5,
        ..BASE
    },
    Rule {
        id: "gcp-api-key",
        title: "Google API key (Cloud, Firebase, Maps, Gemini)",
        class: RuleClass::Cloud,
        keywords: &["aiza"],
        pattern: r"\b(AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "gcp-service-account-key",
        title: "Google Cloud service account key",
        severity: Severity::Critical,
        class: RuleClass::Cloud,
        keywords: &["\"private_key\""],
        pattern: r#""private_key"\s*:\s*"(-----BEGIN (?:RSA )?PRIVATE KEY-----(?:[A-Za-z0-9+/=\s]|\\[rn]){64,}?-----END (?:RSA )?PRIVATE KEY-----(?:\\n)?)""#,
        context: Some(
            r#""type"\s*:\s*"service_account"|"client_email"\s*:\s*"[^"]+\.iam\.gserviceaccount\.com""#,
        ),
        ..BASE
    },
    Rule {
        id: "azure-storage-account-key",
        title: "Azure storage account key",
        severity: Severity::Critical,
        class: RuleClass::Cloud,
        keywords: &["accountkey", "storage"],
        pattern: r#"(?i:accountkey|azure_?storage_?(?:account_?)?(?:access_?)?key|storage_?account_?key)["']?\s*[:=]\s*["']?([A-Za-z0-9+/]{86}==)"#,
        min_entropy: 4.0,
        ..BASE
    },
    Rule {
        id: "azure-shared-access-key",
        title: "Azure Service Bus or Event Hubs shared access key",
        severity: Severity::Critical,
        class: RuleClass::Cloud,
        keywords: &["sharedaccesskey="],
        pattern: r"(?i:SharedAccessKey)=([A-Za-z0-9+/]{43}=)",
        min_entropy: 4.0,
        ..BASE
    },
    Rule {
        id: "azure-ad-client-secret",
        title: "Microsoft Entra ID (Azure AD) client secret",
        severity: Severity::Critical,
        class: RuleClass::Cloud,
        keywords: &[
            "0q~", "1q~", "2q~", "3q~", "4q~", "5q~", "6q~", "7q~", "8q~", "9q~",
        ],
        pattern: r"(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)",
        min_entropy: 3.5,
        ..BASE
    },
    Rule {
        id: "digitalocean-token",
        title: "DigitalOcean personal access or OAuth token",
        severity: Severity::Critical,
        class: RuleClass::Cloud,
        keywords: &["dop_v1_", "doo_v1_", "dor_v1_"],
        pattern: r"\b(do[opr]_v1_[a-f0-9]{64})\b",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    // ---------------------------------------------------------------------------------------
    // Code hosts
    Rule {
        id: "github-token",
        title: "GitHub token",
        severity: Severity::Critical,
        class: RuleClass::CodeHost,
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        pattern: r"\b(gh[pousr]_[A-Za-z0-9]{36,255})\b",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "github-fine-grained-token",
        title: "GitHub fine-grained personal access token",
        severity: Severity::Critical,
        class: RuleClass::CodeHost,
        keywords: &["github_pat_"],
        pattern: r"\b(github_pat_[A-Za-z0-9_]{82})\b",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "gitlab-token",
        title: "GitLab personal access token",
        severity: Severity::Critical,
        class: RuleClass::CodeHost,
        keywords: &["glpat-"],
        pattern: r"\b(glpat-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]{1,16}){0,2})(?:[^A-Za-z0-9_.-]|$)",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "gitlab-deploy-token",
        title: "GitLab deploy token",
        severity: Severity::Critical,
        class: RuleClass::CodeHost,
        keywords: &["gldt-"],
        pattern: r"\b(gldt-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]{1,16}){0,2})(?:[^A-Za-z0-9_.-]|$)",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "gitlab-runner-token",
        title: "GitLab runner authentication or registration token",
        severity: Severity::High,
        class: RuleClass::CodeHost,
        keywords: &["glrt-", "gr1348941"],
        pattern: r"\b((?:glrt-|GR1348941)[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]{1,16}){0,2})(?:[^A-Za-z0-9_.-]|$)",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "gitlab-other-token",
        title: "GitLab pipeline trigger, OAuth application or other prefixed token",
        severity: Severity::High,
        class: RuleClass::CodeHost,
        keywords: &[
            "glptt-", "gloas-", "glcbt-", "glsoat-", "glffct-", "glimt-", "glagent-", "glft-",
        ],
        pattern: r"\b((?:glptt|gloas|glcbt|glsoat|glffct|glimt|glagent|glft)-[A-Za-z0-9_-]{20,})(?:[^A-Za-z0-9_-]|$)",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "bitbucket-app-password",
        title: "Bitbucket app password",
        severity: Severity::Critical,
        class: RuleClass::CodeHost,
        keywords: &["atbb"],
        pattern: r"\b(ATBB[A-Za-z0-9]{28}[A-F0-9]{8})\b",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "atlassian-api-token",
        title: "Atlassian or Bitbucket API or access token",
        severity: Severity::Critical,
        class: RuleClass::CodeHost,
        keywords: &["atatt3xffgf0", "atctt3xffgn0"],
        pattern: r"\b((?:ATATT3xFfGF0|ATCTT3xFfGN0)[A-Za-z0-9_=-]{100,})(?:[^A-Za-z0-9_=-]|$)",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "bitbucket-client-secret",
        title: "Bitbucket OAuth consumer secret",
        severity: Severity::High,
        class: RuleClass::CodeHost,
        keywords: &["bitbucket"],
        pattern: r#"(?i)bitbucket[\w.-]{0,20}(?:client|consumer|oauth)[_.-]?secret["']?\s*(?::|=|=>)\s*["']?([A-Za-z0-9]{32})\b"#,
        min_entropy: 3.5,
        ..BASE
    },
    // ---------------------------------------------------------------------------------------
    // Package registries
    Rule {
        id: "npm-token",
        title: "npm access token",
        severity: Severity::Critical,
        class: RuleClass::PackageRegistry,
        keywords: &["npm_"],
        pattern: r"\b(npm_[A-Za-z0-9]{36})\b",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "npmrc-auth",
        title: "npm registry credential in .npmrc",
        class: RuleClass::PackageRegistry,
        keywords: &["_authtoken", "_auth", "_password"],
        pattern: r#"(?m)(?:_authToken|_auth|_password)\s*=\s*["']?([^\s"']{8,})"#,
        file_names: &[".npmrc", "npmrc"],
        ..BASE
    },
    Rule {
        id: "pypi-token",
        title: "PyPI upload token",
        severity: Severity::Critical,
        class: RuleClass::PackageRegistry,
        keywords: &["pypi-ageichlwas5vcmc", "pypi-agendgvzdc5wexbplm9yzw"],
        pattern: r"\b(pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,})(?:[^A-Za-z0-9_-]|$)",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "rubygems-api-key",
        title: "RubyGems API key",
        severity: Severity::Critical,
        class: RuleClass::PackageRegistry,
        keywords: &["rubygems_"],
        pattern: r"\b(rubygems_[a-f0-9]{48})\b",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "nuget-api-key",
        title: "NuGet API key",
        severity: Severity::Critical,
        class: RuleClass::PackageRegistry,
        keywords: &["oy2"],
        pattern: r"\b(oy2[a-z0-9]{43})\b",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "docker-hub-token",
        title: "Docker Hub personal or organization access token",
        severity: Severity::Critical,
        class: RuleClass::PackageRegistry,
        keywords: &["dckr_pat_", "dckr_oat_"],
        pattern: r"\b(dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,})(?:[^A-Za-z0-9_-]|$)",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "docker-config-auth",
        title: "Registry credential in a Docker config.json",
        class: RuleClass::PackageRegistry,
        keywords: &["\"auths\""],
        pattern: r#""auth"\s*:\s*"([A-Za-z0-9+/]{8,}={0,2})""#,
        min_entropy: 2.5,
        file_names: &["config.json", "auth.json", ".dockercfg"],
        ..BASE
    },
    // ---------------------------------------------------------------------------------------
    // Payments
    Rule {
        id: "stripe-webhook-secret",
        title: "Webhook signing secret (Stripe, Svix, Clerk)",
        class: RuleClass::Payments,
        keywords: &["whsec_"],
        pattern: r"\b(whsec_[A-Za-z0-9+/]{32,})",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "clerk-secret-key",
        title: "Clerk secret key",
        severity: Severity::Critical,
        class: RuleClass::Saas,
        keywords: &["sk_live_", "sk_test_"],
        pattern: r"\b(sk_(?:live|test)_[A-Za-z0-9]{30,60})\b",
        min_entropy: 3.5,
        context: Some(r"(?i)clerk"),
        ..BASE
    },
    Rule {
        id: "stripe-live-key",
        title: "Stripe live secret or restricted key",
        severity: Severity::Critical,
        class: RuleClass::Payments,
        keywords: &["sk_live_", "rk_live_"],
        pattern: r"\b((?:sk|rk)_live_[A-Za-z0-9]{20,247})\b",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "square-access-token",
        title: "Square access token",
        severity: Severity::Critical,
        class: RuleClass::Payments,
        keywords: &["eaaa", "sq0atp-"],
        pattern: r"(?:^|[^A-Za-z0-9_-])((?:EAAA[A-Za-z0-9_-]{60}|sq0atp-[A-Za-z0-9_-]{22}))(?:[^A-Za-z0-9_-]|$)",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "square-oauth-secret",
        title: "Square OAuth application secret",
        severity: Severity::Critical,
        class: RuleClass::Payments,
        keywords: &["sq0csp-"],
        pattern: r"\b(sq0csp-[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "braintree-access-token",
        title: "PayPal Braintree production access token",
        severity: Severity::Critical,
        class: RuleClass::Payments,
        keywords: &["access_token$production$"],
        pattern: r"\b(access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32})\b",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    // ---------------------------------------------------------------------------------------
    // Messaging
    Rule {
        id: "slack-token",
        title: "Slack token",
        class: RuleClass::Messaging,
        keywords: &[
            "xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-", "xoxe-", "xoxe.xox",
        ],
        pattern: r"\b((?:xoxe\.)?xox[baprse]-[0-9]{1,16}-[0-9A-Za-z-]{10,})\b",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "slack-app-token",
        title: "Slack app-level token",
        class: RuleClass::Messaging,
        keywords: &["xapp-"],
        pattern: r"\b(xapp-[0-9]-[A-Z0-9]{6,}-[0-9]{6,}-[a-f0-9]{32,})\b",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "slack-webhook",
        title: "Slack incoming webhook or workflow URL",
        class: RuleClass::Messaging,
        keywords: &["hooks.slack.com"],
        pattern: r"(https://hooks\.slack\.com/(?:services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{20,}|(?:workflows|triggers)/T[A-Z0-9]+/A[A-Z0-9]+/[0-9]+/[A-Za-z0-9]{20,}))",
        binary: true,
        ..BASE
    },
    Rule {
        id: "twilio-api-key",
        title: "Twilio API key",
        class: RuleClass::Messaging,
        keywords: &["twilio"],
        pattern: r"\b(SK[0-9a-f]{32})\b",
        min_entropy: 3.0,
        context: Some(r"(?i)twilio|\bAC[0-9a-f]{32}\b"),
        ..BASE
    },
    Rule {
        id: "twilio-auth-token",
        title: "Twilio auth token",
        severity: Severity::Critical,
        class: RuleClass::Messaging,
        keywords: &["twilio"],
        pattern: r#"(?i)twilio[\w.-]{0,20}auth[_.-]?token["']?\s*(?::|=|=>)\s*["']?([0-9a-f]{32})\b"#,
        min_entropy: 3.0,
        ..BASE
    },
    Rule {
        id: "sendgrid-api-key",
        title: "SendGrid API key",
        severity: Severity::Critical,
        class: RuleClass::Messaging,
        keywords: &["sg."],
        pattern: r"\b(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "mailgun-api-key",
        title: "Mailgun API key",
        class: RuleClass::Messaging,
        keywords: &["key-", "mailgun"],
        pattern: r"\b(key-[0-9a-f]{32}|[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8})\b",
        min_entropy: 3.0,
        context: Some(r"(?i)mailgun"),
        ..BASE
    },
    Rule {
        id: "discord-bot-token",
        title: "Discord bot token",
        severity: Severity::Critical,
        class: RuleClass::Messaging,
        keywords: &["discord"],
        pattern: r"(?:^|[^A-Za-z0-9_.-])([MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38})(?:[^A-Za-z0-9_.-]|$)",
        min_entropy: 3.5,
        context: Some(r"(?i)discord"),
        ..BASE
    },
    Rule {
        id: "discord-webhook",
        title: "Discord webhook URL",
        class: RuleClass::Messaging,
        keywords: &["/api/webhooks/"],
        pattern: r"(https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68})(?:[^A-Za-z0-9_-]|$)",
        binary: true,
        ..BASE
    },
    Rule {
        id: "telegram-bot-token",
        title: "Telegram bot token",
        class: RuleClass::Messaging,
        keywords: &["telegram"],
        pattern: r"(?:^|[^0-9A-Za-z_-]|/bot)([0-9]{8,10}:AA[A-Za-z0-9_-]{33})(?:[^A-Za-z0-9_-]|$)",
        min_entropy: 3.5,
        context: Some(r"(?i)telegram"),
        ..BASE
    },
    // ---------------------------------------------------------------------------------------
    // AI APIs
    Rule {
        id: "openai-api-key",
        title: "OpenAI API key",
        severity: Severity::Critical,
        class: RuleClass::Ai,
        keywords: &["t3blbkfj"],
        pattern: r"\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,})(?:[^A-Za-z0-9_-]|$)",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "anthropic-api-key",
        title: "Anthropic API key",
        severity: Severity::Critical,
        class: RuleClass::Ai,
        keywords: &["sk-ant-api03-", "sk-ant-admin01-"],
        pattern: r"\b(sk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{80,100}AA)(?:[^A-Za-z0-9_-]|$)",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "huggingface-token",
        title: "Hugging Face access token",
        class: RuleClass::Ai,
        keywords: &["hf_", "api_org_"],
        pattern: r"\b((?:hf_|api_org_)[A-Za-z]{34})\b",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    // ---------------------------------------------------------------------------------------
    // SaaS used by web applications
    // NOTE: Vercel (`vcp_`…), Clerk and Supabase (`sb_secret_`) publish prefixes but not
    // lengths; the length bounds of their rules are assumptions, checked against no real key.
    Rule {
        id: "vercel-token",
        title: "Vercel access token or API key",
        class: RuleClass::Saas,
        keywords: &["vcp_", "vci_", "vca_", "vcr_", "vck_"],
        pattern: r"\b(vc[pikar]_[A-Za-z0-9]{24,})\b",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "vercel-token-assigned",
        title: "Vercel access token",
        class: RuleClass::Saas,
        keywords: &["vercel"],
        pattern: r#"(?i)vercel[\w.-]{0,20}(?:token|key)["']?\s*(?::|=|=>)\s*["']?([A-Za-z0-9]{24})\b"#,
        min_entropy: 3.5,
        ..BASE
    },
    Rule {
        id: "supabase-service-role-key",
        title: "Supabase service-role key",
        severity: Severity::Critical,
        class: RuleClass::Saas,
        keywords: &["eyj"],
        pattern: r"\b(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,})",
        validate: Some(validate::is_supabase_service_role_jwt),
        binary: true,
        ..BASE
    },
    Rule {
        id: "supabase-access-token",
        title: "Supabase personal access token",
        severity: Severity::Critical,
        class: RuleClass::Saas,
        keywords: &["sbp_"],
        pattern: r"\b(sbp_(?:oauth_)?[a-f0-9]{40})\b",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "supabase-secret-key",
        title: "Supabase secret API key",
        severity: Severity::Critical,
        class: RuleClass::Saas,
        keywords: &["sb_secret_"],
        pattern: r"\b(sb_secret_[A-Za-z0-9_-]{20,})(?:[^A-Za-z0-9_-]|$)",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "firebase-cloud-messaging-server-key",
        title: "Firebase Cloud Messaging legacy server key",
        severity: Severity::Critical,
        class: RuleClass::Saas,
        keywords: &["apa91b"],
        pattern: r"\b(AAAA[A-Za-z0-9_-]{7}:APA91b[A-Za-z0-9_-]{134})(?:[^A-Za-z0-9_-]|$)",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "sentry-dsn-secret",
        title: "Sentry DSN with its secret key",
        class: RuleClass::Saas,
        keywords: &["sentry"],
        pattern: r"https?://[0-9a-f]{32}:([0-9a-f]{32})@[A-Za-z0-9.-]+(?::[0-9]+)?/[0-9]+",
        min_entropy: 3.0,
        ..BASE
    },
    Rule {
        id: "sentry-auth-token",
        title: "Sentry organization or user auth token",
        class: RuleClass::Saas,
        keywords: &["sntrys_", "sntryu_"],
        pattern: r"\b(sntrys_eyJ[A-Za-z0-9+/=_-]{60,}|sntryu_[a-f0-9]{64})(?:[^A-Za-z0-9+/=_-]|$)",
        min_entropy: 3.5,
        binary: true,
        ..BASE
    },
    Rule {
        id: "auth0-client-secret",
        title: "Auth0 client secret",
        severity: Severity::Critical,
        class: RuleClass::Saas,
        keywords: &["auth0"],
        pattern: r#"(?i)auth0[\w.-]{0,24}(?:client[_.-]?)?secret["']?\s*(?::|=|=>)\s*["']?([A-Za-z0-9_-]{40,})(?:[^A-Za-z0-9_-]|$)"#,
        min_entropy: 3.5,
        ..BASE
    },
    Rule {
        id: "onepassword-service-account-token",
        title: "1Password service account token",
        severity: Severity::Critical,
        class: RuleClass::Saas,
        keywords: &["ops_ey"],
        pattern: r"\b(ops_eyJ[A-Za-z0-9+/=_-]{100,})",
        min_entropy: 3.0,
        binary: true,
        ..BASE
    },
    // ---------------------------------------------------------------------------------------
    // Private keys
    Rule {
        id: "private-key",
        title: "Private key",
        severity: Severity::Critical,
        class: RuleClass::PrivateKey,
        keywords: &["private key"],
        pattern: r"-----BEGIN ([A-Z0-9 ]{0,32})PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=:,.()\s-]|\\[rn]){40,}?-----END [A-Z0-9 ]{0,32}PRIVATE KEY(?: BLOCK)?-----",
        secret_group: 0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "ssh2-private-key",
        title: "Private key (SSH2 format)",
        severity: Severity::Critical,
        class: RuleClass::PrivateKey,
        keywords: &["---- begin ssh2 encrypted private key ----"],
        pattern: r#"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----[A-Za-z0-9+/=:,.()"\s-]{40,}?---- END SSH2 ENCRYPTED PRIVATE KEY ----"#,
        secret_group: 0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "putty-private-key",
        title: "Private key (PuTTY format)",
        severity: Severity::Critical,
        class: RuleClass::PrivateKey,
        keywords: &["putty-user-key-file-"],
        pattern: r"PuTTY-User-Key-File-[23]: [^\r\n]+\r?\n(?:[^\r\n]*\r?\n){0,8}?Private-Lines: [0-9]+\r?\n(?:[A-Za-z0-9+/=]+\r?\n)+",
        secret_group: 0,
        binary: true,
        ..BASE
    },
    Rule {
        id: "age-secret-key",
        title: "age encryption secret key",
        severity: Severity::Critical,
        class: RuleClass::PrivateKey,
        keywords: &["age-secret-key-1"],
        pattern: r"\b(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b",
        binary: true,
        ..BASE
    },
    Rule {
        id: "kubernetes-client-key",
        title: "Kubernetes client private key in a kubeconfig",
        severity: Severity::Critical,
        class: RuleClass::PrivateKey,
        keywords: &["client-key-data"],
        pattern: r#"client-key-data["']?\s*:\s*["']?(LS0tLS1CRUdJT[A-Za-z0-9+/]{60,}={0,2})"#,
        ..BASE
    },
    // ---------------------------------------------------------------------------------------
    // Connection strings
    Rule {
        id: "url-credentials",
        title: "Password in a connection string or URL",
        class: RuleClass::ConnectionString,
        keywords: &["://"],
        pattern: r#"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|https?|ftps?|sftp|smtps?|ldaps?)://[^:/\s"'@<>]{0,64}:([^@\s"'/<>]{3,128})@[A-Za-z0-9._\-\[\]]+"#,
        ..BASE
    },
    Rule {
        id: "jdbc-password",
        title: "Password in a JDBC URL",
        class: RuleClass::ConnectionString,
        keywords: &["jdbc:"],
        pattern: r#"(?i)jdbc:[a-z0-9]+:[^\s"'<>]*?[?&;]password=([^&;\s"'<>]{3,128})"#,
        ..BASE
    },
    Rule {
        id: "connection-string-password",
        title: "Password in a key=value connection string",
        class: RuleClass::ConnectionString,
        keywords: &["password=", "pwd="],
        pattern: r#"(?i)(?:server|data source|host|address|addr)\s*=[^;\r\n"']{1,256};(?:[^;\r\n"']{0,256};){0,8}?\s*(?:password|pwd)\s*=\s*([^;\r\n"']{3,128})"#,
        ..BASE
    },
    Rule {
        id: "netrc-password",
        title: "Password in a .netrc file",
        class: RuleClass::Generic,
        keywords: &["password"],
        pattern: r"\bpassword\s+(\S{3,})",
        file_names: &[".netrc", "_netrc"],
        ..BASE
    },
    Rule {
        id: "pgpass-password",
        title: "Password in a .pgpass file",
        class: RuleClass::ConnectionString,
        pattern: r"(?m)^[^:#\r\n]+:[^:\r\n]+:[^:\r\n]+:[^:\r\n]+:([^\r\n]{3,})$",
        file_names: &[".pgpass"],
        ..BASE
    },
    // ---------------------------------------------------------------------------------------
    // Generic tokens
    Rule {
        id: "jwt",
        title: "JSON Web Token",
        severity: Severity::Medium,
        class: RuleClass::Generic,
        keywords: &["eyj"],
        pattern: r"\b(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,})",
        min_entropy: 3.0,
        validate: Some(validate::is_private_jwt),
        ..BASE
    },
];

/// Id of the rule for `NAME=value` lines whose name marks a credential, in `.env`, properties,
/// INI, TOML, YAML, JSON and XML files.
pub const ASSIGNMENT_RULE_ID: &str = "secret-assignment";
pub const ASSIGNMENT_RULE_TITLE: &str = "Credential assigned to a secret-named key";

/// Id of the rule for a config value (`ENV`, label, build argument) under a credential name.
pub const NAMED_VARIABLE_RULE_ID: &str = "secret-named-variable";
pub const NAMED_VARIABLE_RULE_TITLE: &str = "Value under a credential name";

/// Published example credentials that documentation and SDKs ship.
pub const KNOWN_EXAMPLES: &[&str] = &[
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AKIAI44QH8DHBEXAMPLE",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    // The account key of Azurite and the Azure storage emulator (`devstoreaccount1`).
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
];
