//! Must-fire and must-not-fire cases for every built-in rule. Fake credentials are generated
//! from a seeded generator in each provider's format, so the source contains no literal
//! credential-shaped strings (which secret scanners and push protection would flag).

use super::*;

pub const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const HEX: &str = "0123456789abcdef";
pub const HEX_UPPER: &str = "0123456789ABCDEF";
pub const BASE32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub const BASE64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub const BASE64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
pub const LOWER_ALNUM: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
pub const UPPER_ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const DIGITS: &str = "0123456789";
pub const BECH32: &str = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L";

/// Returns `len` pseudo-random characters of `alphabet`, the same for the same `seed`.
pub fn fake(alphabet: &str, len: usize, seed: u64) -> String {
    let chars: Vec<char> = alphabet.chars().collect();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chars[(state % chars.len() as u64) as usize]
        })
        .collect()
}

fn jwt(claims: &str, seed: u64) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        engine.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        engine.encode(claims),
        fake(BASE64URL, 43, seed)
    )
}

fn pem(kind: &str, seed: u64) -> String {
    let body: Vec<String> = (0..6).map(|i| fake(BASE64, 64, seed + i)).collect();
    format!(
        "-----BEGIN {kind}-----\n{}\n-----END {kind}-----\n",
        body.join("\n")
    )
}

/// (rule, path, text) cases in which the rule must fire.
pub fn fire_cases() -> Vec<(&'static str, &'static str, String)> {
    let kubeconfig_key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(pem("RSA PRIVATE KEY", 90))
    };
    vec![
        (
            "aws-access-key-id",
            "/app/.env",
            format!("AWS_ACCESS_KEY_ID=AKIA{}\n", fake(BASE32, 16, 1)),
        ),
        (
            "aws-access-key-id",
            "/app/config.js",
            format!("const id = \"ASIA{}\";\n", fake(BASE32, 16, 2)),
        ),
        (
            "aws-secret-access-key",
            "/root/.aws/credentials",
            format!(
                "[default]\naws_secret_access_key = {}\n",
                fake(ALNUM, 40, 3)
            ),
        ),
        (
            "aws-secret-access-key",
            "/app/settings.json",
            format!("{{\"secretAccessKey\": \"{}\"}}\n", fake(BASE64, 40, 4)),
        ),
        (
            "aws-secret-access-key",
            "/app/settings.py",
            format!(
                "KEY = os.environ.get('AWS_SECRET_ACCESS_KEY', '{}')\n",
                fake(BASE64, 40, 107)
            ),
        ),
        (
            "gcp-api-key",
            "/app/.next/static/chunks/app.js",
            format!("apiKey:\"AIza{}\",", fake(BASE64URL, 35, 5)),
        ),
        (
            "gcp-service-account-key",
            "/app/sa.json",
            format!(
                "{{\n  \"type\": \"service_account\",\n  \"private_key_id\": \"{}\",\n  \"private_key\": \"{}\",\n  \"client_email\": \"svc@proj.iam.gserviceaccount.com\"\n}}\n",
                fake(HEX, 40, 6),
                pem("PRIVATE KEY", 7).replace('\n', "\\n")
            ),
        ),
        (
            "azure-storage-account-key",
            "/app/appsettings.json",
            format!(
                "\"Storage\": \"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={}==;EndpointSuffix=core.windows.net\"\n",
                fake(BASE64, 86, 8)
            ),
        ),
        (
            "azure-shared-access-key",
            "/app/.env",
            format!(
                "SERVICEBUS=Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={}=\n",
                fake(BASE64, 43, 9)
            ),
        ),
        (
            "azure-ad-client-secret",
            "/app/.env",
            format!(
                "AZURE_CLIENT_SECRET={}7Q~{}\n",
                fake(ALNUM, 3, 10),
                fake(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~.-",
                    34,
                    11
                )
            ),
        ),
        (
            "digitalocean-token",
            "/app/deploy.sh",
            format!("export DO_TOKEN=dop_v1_{}\n", fake(HEX, 64, 12)),
        ),
        (
            "github-token",
            "/app/.git-credentials",
            format!("https://bot:ghp_{}@github.com\n", fake(ALNUM, 36, 13)),
        ),
        (
            "github-fine-grained-token",
            "/app/ci.sh",
            format!(
                "TOKEN=github_pat_{}_{}\n",
                fake(ALNUM, 22, 14),
                fake(ALNUM, 59, 15)
            ),
        ),
        (
            "gitlab-token",
            "/app/.env",
            format!("GITLAB_TOKEN=glpat-{}\n", fake(ALNUM, 20, 16)),
        ),
        (
            "gitlab-deploy-token",
            "/app/.env",
            format!("DEPLOY=gldt-{}\n", fake(ALNUM, 20, 17)),
        ),
        (
            "gitlab-runner-token",
            "/etc/gitlab-runner/config.toml",
            format!("  token = \"glrt-{}\"\n", fake(BASE64URL, 20, 18)),
        ),
        (
            "gitlab-other-token",
            "/app/trigger.sh",
            format!("curl -F token=glptt-{} https://gitlab\n", fake(HEX, 40, 19)),
        ),
        (
            "bitbucket-app-password",
            "/app/.env",
            format!(
                "BB_APP_PASSWORD=ATBB{}{}\n",
                fake(ALNUM, 28, 20),
                fake(HEX_UPPER, 8, 21)
            ),
        ),
        (
            "atlassian-api-token",
            "/app/.env",
            format!(
                "JIRA_TOKEN=ATATT3xFfGF0{}={}\n",
                fake(BASE64URL, 170, 22),
                fake(HEX_UPPER, 8, 23)
            ),
        ),
        (
            "bitbucket-client-secret",
            "/app/.env",
            format!("BITBUCKET_CLIENT_SECRET={}\n", fake(ALNUM, 32, 24)),
        ),
        (
            "npm-token",
            "/app/.npmrc",
            format!(
                "//registry.npmjs.org/:_authToken=npm_{}\n",
                fake(ALNUM, 36, 25)
            ),
        ),
        (
            "npmrc-auth",
            "/root/.npmrc",
            format!(
                "//npm.internal/:_authToken={}-{}\n",
                fake(HEX, 8, 26),
                fake(HEX, 12, 27)
            ),
        ),
        (
            "pypi-token",
            "/root/.pypirc",
            format!(
                "[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmc{}\n",
                fake(BASE64URL, 120, 28)
            ),
        ),
        (
            "rubygems-api-key",
            "/root/.gem/credentials",
            format!("---\n:rubygems_api_key: rubygems_{}\n", fake(HEX, 48, 29)),
        ),
        (
            "nuget-api-key",
            "/app/publish.sh",
            format!(
                "dotnet nuget push pkg.nupkg --api-key oy2{}\n",
                fake(LOWER_ALNUM, 43, 30)
            ),
        ),
        (
            "docker-hub-token",
            "/app/ci.env",
            format!("DOCKERHUB_TOKEN=dckr_pat_{}\n", fake(BASE64URL, 27, 31)),
        ),
        (
            "docker-config-auth",
            "/root/.docker/config.json",
            format!(
                "{{\"auths\":{{\"ghcr.io\":{{\"auth\":\"{}=\"}}}}}}\n",
                fake(BASE64, 31, 32)
            ),
        ),
        (
            "stripe-webhook-secret",
            "/app/.env",
            format!("STRIPE_WEBHOOK_SECRET=whsec_{}\n", fake(ALNUM, 32, 33)),
        ),
        (
            "clerk-secret-key",
            "/app/.env.local",
            format!("CLERK_SECRET_KEY=sk_test_{}\n", fake(ALNUM, 42, 34)),
        ),
        (
            "stripe-live-key",
            "/app/.env",
            format!("STRIPE_SECRET_KEY=sk_live_{}\n", fake(ALNUM, 24, 35)),
        ),
        (
            "stripe-live-key",
            "/app/server.js",
            format!("stripe('rk_live_{}')\n", fake(ALNUM, 99, 36)),
        ),
        (
            "square-access-token",
            "/app/.env",
            format!("SQUARE_ACCESS_TOKEN=EAAA{}\n", fake(BASE64URL, 60, 37)),
        ),
        (
            "square-access-token",
            "/app/square.js",
            format!("token: 'sq0atp-{}'\n", fake(BASE64URL, 22, 38)),
        ),
        (
            "square-oauth-secret",
            "/app/square.js",
            format!("secret: 'sq0csp-{}'\n", fake(BASE64URL, 43, 39)),
        ),
        (
            "braintree-access-token",
            "/app/.env",
            format!(
                "BRAINTREE=access_token$production${}${}\n",
                fake(LOWER_ALNUM, 16, 40),
                fake(HEX, 32, 41)
            ),
        ),
        (
            "slack-token",
            "/app/.env",
            format!(
                "SLACK_BOT_TOKEN=xoxb-{}-{}-{}\n",
                fake(DIGITS, 11, 42),
                fake(DIGITS, 13, 43),
                fake(ALNUM, 24, 44)
            ),
        ),
        (
            "slack-app-token",
            "/app/.env",
            format!(
                "SLACK_APP_TOKEN=xapp-1-A{}-{}-{}\n",
                fake(UPPER_ALNUM, 10, 45),
                fake(DIGITS, 13, 46),
                fake(HEX, 64, 47)
            ),
        ),
        (
            "slack-webhook",
            "/app/notify.js",
            format!(
                "const url = 'https://hooks.slack.com/services/T{}/B{}/{}';\n",
                fake(UPPER_ALNUM, 8, 48),
                fake(UPPER_ALNUM, 10, 49),
                fake(ALNUM, 24, 50)
            ),
        ),
        (
            "twilio-api-key",
            "/app/.env",
            format!(
                "TWILIO_ACCOUNT_SID=AC{}\nTWILIO_API_KEY=SK{}\n",
                fake(HEX, 32, 51),
                fake(HEX, 32, 52)
            ),
        ),
        (
            "twilio-auth-token",
            "/app/config.yaml",
            format!("twilio_auth_token: {}\n", fake(HEX, 32, 53)),
        ),
        (
            "sendgrid-api-key",
            "/app/mail.js",
            format!(
                "sgMail.setApiKey('SG.{}.{}');\n",
                fake(BASE64URL, 22, 54),
                fake(BASE64URL, 43, 55)
            ),
        ),
        (
            "mailgun-api-key",
            "/app/.env",
            format!("MAILGUN_API_KEY=key-{}\n", fake(HEX, 32, 56)),
        ),
        (
            "discord-bot-token",
            "/app/.env",
            format!(
                "DISCORD_BOT_TOKEN=MT{}.{}.{}\n",
                fake(BASE64URL, 24, 57),
                fake(BASE64URL, 6, 58),
                fake(BASE64URL, 38, 59)
            ),
        ),
        (
            "discord-webhook",
            "/app/alerts.py",
            format!(
                "URL = 'https://discord.com/api/webhooks/{}/{}'\n",
                fake(DIGITS, 18, 60),
                fake(BASE64URL, 68, 61)
            ),
        ),
        (
            "telegram-bot-token",
            "/app/.env",
            format!(
                "TELEGRAM_BOT_TOKEN={}:AA{}\n",
                fake(DIGITS, 10, 62).replacen('0', "1", 1),
                fake(BASE64URL, 33, 63)
            ),
        ),
        (
            "openai-api-key",
            "/app/.env",
            format!(
                "OPENAI_API_KEY=sk-proj-{}T3BlbkFJ{}\n",
                fake(BASE64URL, 74, 64),
                fake(BASE64URL, 74, 65)
            ),
        ),
        (
            "openai-api-key",
            "/app/legacy.py",
            format!(
                "openai.api_key = 'sk-{}T3BlbkFJ{}'\n",
                fake(ALNUM, 20, 66),
                fake(ALNUM, 20, 67)
            ),
        ),
        (
            "anthropic-api-key",
            "/app/.env",
            format!(
                "ANTHROPIC_API_KEY=sk-ant-api03-{}AA\n",
                fake(BASE64URL, 93, 68)
            ),
        ),
        (
            "huggingface-token",
            "/app/.env",
            format!("HF_TOKEN=hf_{}\n", fake(LETTERS, 34, 69)),
        ),
        (
            "vercel-token",
            "/app/.env",
            format!("VERCEL_TOKEN=vcp_{}\n", fake(ALNUM, 56, 70)),
        ),
        (
            "vercel-token-assigned",
            "/app/deploy.yml",
            format!("vercel_token: {}\n", fake(ALNUM, 24, 71)),
        ),
        (
            "supabase-service-role-key",
            "/app/.env",
            format!(
                "SUPABASE_SERVICE_ROLE_KEY={}\n",
                jwt(
                    r#"{"iss":"supabase","ref":"abcdefghijklmnopqrst","role":"service_role","iat":1700000000,"exp":2000000000}"#,
                    72
                )
            ),
        ),
        (
            "supabase-access-token",
            "/root/.supabase/access-token",
            format!("sbp_{}\n", fake(HEX, 40, 73)),
        ),
        (
            "supabase-secret-key",
            "/app/.env",
            format!(
                "SUPABASE_SECRET_KEY=sb_secret_{}\n",
                fake(BASE64URL, 31, 74)
            ),
        ),
        (
            "firebase-cloud-messaging-server-key",
            "/app/push.js",
            format!(
                "const serverKey = 'AAAA{}:APA91b{}';\n",
                fake(BASE64URL, 7, 75),
                fake(BASE64URL, 134, 76)
            ),
        ),
        (
            "sentry-dsn-secret",
            "/app/sentry.properties",
            format!(
                "dsn=https://{}:{}@o123456.ingest.sentry.io/4501\n",
                fake(HEX, 32, 77),
                fake(HEX, 32, 78)
            ),
        ),
        (
            "sentry-auth-token",
            "/app/.sentryclirc",
            format!("[auth]\ntoken=sntryu_{}\n", fake(HEX, 64, 79)),
        ),
        (
            "auth0-client-secret",
            "/app/.env",
            format!("AUTH0_CLIENT_SECRET={}\n", fake(BASE64URL, 64, 80)),
        ),
        (
            "onepassword-service-account-token",
            "/app/.env",
            format!(
                "OP_SERVICE_ACCOUNT_TOKEN=ops_eyJ{}\n",
                fake(BASE64, 300, 81)
            ),
        ),
        (
            "private-key",
            "/root/.ssh/id_rsa",
            pem("RSA PRIVATE KEY", 82),
        ),
        (
            "private-key",
            "/app/keys/server.key",
            pem("PRIVATE KEY", 83),
        ),
        (
            "private-key",
            "/root/.ssh/id_ed25519",
            pem("OPENSSH PRIVATE KEY", 84),
        ),
        ("private-key", "/app/ec.pem", pem("EC PRIVATE KEY", 85)),
        (
            "private-key",
            "/app/signing.asc",
            pem("PGP PRIVATE KEY BLOCK", 86).replacen(
                "BLOCK-----\n",
                "BLOCK-----\nVersion: GnuPG v2\n\n",
                1,
            ),
        ),
        (
            "private-key",
            "/app/.env",
            format!(
                "FIREBASE_PRIVATE_KEY=\"{}\"\n",
                pem("PRIVATE KEY", 87).replace('\n', "\\n")
            ),
        ),
        (
            "ssh2-private-key",
            "/app/key.ssh2",
            format!(
                "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: \"rsa-key\"\n{}\n{}\n---- END SSH2 ENCRYPTED PRIVATE KEY ----\n",
                fake(BASE64, 64, 88),
                fake(BASE64, 64, 89)
            ),
        ),
        (
            "putty-private-key",
            "/app/deploy.ppk",
            format!(
                "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n{}\n{}\nPrivate-Lines: 1\n{}\nPrivate-MAC: {}\n",
                fake(BASE64, 64, 91),
                fake(BASE64, 20, 92),
                fake(BASE64, 44, 93),
                fake(HEX, 64, 94)
            ),
        ),
        (
            "age-secret-key",
            "/root/.config/sops/age/keys.txt",
            format!(
                "# created: 2026-01-01\nAGE-SECRET-KEY-1{}\n",
                fake(BECH32, 58, 95)
            ),
        ),
        (
            "kubernetes-client-key",
            "/root/.kube/config",
            format!(
                "users:\n- name: admin\n  user:\n    client-certificate-data: LS0tLS1CRUdJTiBDRVJU\n    client-key-data: {kubeconfig_key}\n"
            ),
        ),
        (
            "url-credentials",
            "/app/.env",
            format!(
                "DATABASE_URL=postgres://app:{}@db:5432/app\n",
                fake(ALNUM, 16, 96)
            ),
        ),
        (
            "url-credentials",
            "/app/config.js",
            format!(
                "uri: 'mongodb+srv://svc:{}@cluster0.ab1cd.mongodb.net/app'\n",
                fake(ALNUM, 20, 97)
            ),
        ),
        (
            "url-credentials",
            "/app/.env",
            format!("REDIS_URL=redis://:{}@cache:6379/0\n", fake(ALNUM, 24, 98)),
        ),
        (
            "url-credentials",
            "/app/.env",
            format!(
                "AMQP_URL=amqps://worker:{}@mq.internal/vhost\n",
                fake(ALNUM, 18, 99)
            ),
        ),
        (
            "jdbc-password",
            "/app/application.properties",
            format!(
                "spring.datasource.url=jdbc:postgresql://db:5432/app?user=app&password={}\n",
                fake(ALNUM, 16, 100)
            ),
        ),
        (
            "connection-string-password",
            "/app/appsettings.json",
            format!(
                "\"Default\": \"Server=tcp:db.internal,1433;Database=app;User Id=app;Password={};\"\n",
                fake(ALNUM, 16, 101)
            ),
        ),
        (
            "netrc-password",
            "/root/.netrc",
            format!(
                "machine api.github.com login bot password {}\n",
                fake(ALNUM, 20, 102)
            ),
        ),
        (
            "pgpass-password",
            "/root/.pgpass",
            format!("db.internal:5432:app:app:{}\n", fake(ALNUM, 20, 103)),
        ),
        (
            "jwt",
            "/app/fixtures.js",
            format!(
                "const session = '{}';\n",
                jwt(r#"{"sub":"user-42","scope":"admin","exp":2000000000}"#, 104)
            ),
        ),
        (
            ASSIGNMENT_RULE_ID,
            "/app/.env",
            "PORT=3000\nDATABASE_PASSWORD=hunter2-prod\n".to_owned(),
        ),
        (
            ASSIGNMENT_RULE_ID,
            "/app/config/production.yaml",
            format!("database:\n  password: {}\n", fake(ALNUM, 18, 105)),
        ),
        (
            ASSIGNMENT_RULE_ID,
            "/root/.m2/settings.xml",
            format!(
                "<servers><server><id>nexus</id><password>{}</password></server></servers>\n",
                fake(ALNUM, 20, 106)
            ),
        ),
    ]
}

/// (rule, path, text) cases in which the rule must stay quiet: documented examples,
/// placeholders, near misses of the format, and the format without the context it needs.
pub fn quiet_cases() -> Vec<(&'static str, &'static str, String)> {
    vec![
        (
            "aws-access-key-id",
            "/app/docs.md",
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n".into(),
        ),
        (
            "aws-access-key-id",
            "/app/a.txt",
            format!("AKIA{}\n", fake(BASE32, 15, 1)),
        ),
        (
            "aws-secret-access-key",
            "/root/.aws/credentials",
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n".into(),
        ),
        (
            "aws-secret-access-key",
            "/app/a.txt",
            format!("checksum = {}\n", fake(BASE64, 40, 2)),
        ),
        (
            "gcp-api-key",
            "/app/a.js",
            format!("'AIza{}'", fake(BASE64URL, 30, 3)),
        ),
        (
            "gcp-service-account-key",
            "/app/sa.json",
            "{\"type\": \"service_account\", \"private_key\": \"<redacted>\"}\n".into(),
        ),
        (
            "azure-storage-account-key",
            "/app/local.settings.json",
            "\"AzureWebJobsStorage\": \"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;\"\n".into(),
        ),
        (
            "azure-shared-access-key",
            "/app/.env",
            "SB=Endpoint=sb://ns/;SharedAccessKey=<your-key>\n".into(),
        ),
        (
            "azure-ad-client-secret",
            "/app/a.txt",
            "value abc8Q~short here\n".into(),
        ),
        (
            "digitalocean-token",
            "/app/a.txt",
            format!("dop_v1_{}\n", fake(HEX, 60, 4)),
        ),
        (
            "github-token",
            "/app/README.txt",
            "export GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n".into(),
        ),
        (
            "github-token",
            "/app/a.txt",
            format!("ghp_{}\n", fake(ALNUM, 20, 5)),
        ),
        (
            "github-fine-grained-token",
            "/app/a.txt",
            format!("github_pat_{}\n", fake(ALNUM, 30, 6)),
        ),
        (
            "gitlab-token",
            "/app/a.txt",
            "GITLAB_TOKEN=glpat-xxxxxxxxxxxxxxxxxxxx\n".into(),
        ),
        (
            "gitlab-deploy-token",
            "/app/a.txt",
            "gldt-short\n".into(),
        ),
        (
            "gitlab-runner-token",
            "/app/a.txt",
            "token = \"glrt-REDACTED\"\n".into(),
        ),
        (
            "gitlab-other-token",
            "/app/a.txt",
            "glptt-123\n".into(),
        ),
        (
            "bitbucket-app-password",
            "/app/a.txt",
            format!("ATBB{}\n", fake(ALNUM, 12, 7)),
        ),
        (
            "atlassian-api-token",
            "/app/a.txt",
            "ATATT3xFfGF0...\n".into(),
        ),
        (
            "bitbucket-client-secret",
            "/app/.env",
            format!("BITBUCKET_CLIENT_ID={}\n", fake(ALNUM, 32, 8)),
        ),
        (
            "npm-token",
            "/app/.npmrc",
            "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n".into(),
        ),
        (
            "npmrc-auth",
            "/app/notes.txt",
            format!("_authToken={}-{}\n", fake(HEX, 8, 9), fake(HEX, 12, 10)),
        ),
        (
            "npmrc-auth",
            "/app/.npmrc",
            "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n".into(),
        ),
        (
            "pypi-token",
            "/app/a.txt",
            "password = pypi-AgEIcHlwaS5vcmc\n".into(),
        ),
        (
            "rubygems-api-key",
            "/app/a.txt",
            format!("rubygems_{}\n", fake(HEX, 40, 11)),
        ),
        (
            "nuget-api-key",
            "/app/a.txt",
            format!("oy2{}\n", fake(ALNUM, 43, 12)),
        ),
        (
            "docker-hub-token",
            "/app/a.txt",
            "dckr_pat_short\n".into(),
        ),
        (
            "docker-config-auth",
            "/app/package.json",
            format!("{{\"auths\": 1, \"auth\": \"{}\"}}\n", fake(BASE64, 20, 13)),
        ),
        (
            "stripe-webhook-secret",
            "/app/a.txt",
            "whsec_...\n".into(),
        ),
        (
            "clerk-secret-key",
            "/app/stripe.js",
            format!("stripe('sk_test_{}')\n", fake(ALNUM, 42, 14)),
        ),
        (
            "stripe-live-key",
            "/app/.env",
            format!("NEXT_PUBLIC_STRIPE_KEY=pk_live_{}\n", fake(ALNUM, 24, 15)),
        ),
        (
            "stripe-live-key",
            "/app/test.js",
            format!("stripe('sk_test_{}')\n", fake(ALNUM, 24, 16)),
        ),
        (
            "square-access-token",
            "/app/fb.js",
            format!("token = 'EAAA{}'\n", fake(BASE64URL, 150, 17)),
        ),
        (
            "square-oauth-secret",
            "/app/a.txt",
            "sq0csp-...\n".into(),
        ),
        (
            "braintree-access-token",
            "/app/.env",
            format!(
                "BT=access_token$sandbox${}${}\n",
                fake(LOWER_ALNUM, 16, 18),
                fake(HEX, 32, 19)
            ),
        ),
        (
            "slack-token",
            "/app/README.txt",
            "SLACK_BOT_TOKEN=xoxb-your-token\n".into(),
        ),
        (
            "slack-app-token",
            "/app/a.txt",
            "xapp-1-XXXX\n".into(),
        ),
        (
            "slack-webhook",
            "/app/a.txt",
            "https://hooks.slack.com/services/T000/B000/XXXX\n".into(),
        ),
        (
            "twilio-api-key",
            "/app/cache.txt",
            format!("entry SK{}\n", fake(HEX, 32, 20)),
        ),
        (
            "twilio-auth-token",
            "/app/.env",
            "TWILIO_AUTH_TOKEN=your_auth_token\n".into(),
        ),
        (
            "sendgrid-api-key",
            "/app/a.txt",
            "SG.xxxxx.yyyyy\n".into(),
        ),
        (
            "mailgun-api-key",
            "/app/cache.txt",
            format!("cache-key-{} key-{}\n", fake(HEX, 8, 21), fake(HEX, 32, 22)),
        ),
        (
            "discord-bot-token",
            "/app/a.txt",
            format!(
                "value MT{}.{}.{}\n",
                fake(BASE64URL, 24, 23),
                fake(BASE64URL, 6, 24),
                fake(BASE64URL, 38, 25)
            ),
        ),
        (
            "discord-webhook",
            "/app/a.txt",
            "https://discord.com/api/webhooks/123/abc\n".into(),
        ),
        (
            "telegram-bot-token",
            "/app/a.txt",
            format!("time {}:AA{}\n", fake(DIGITS, 10, 26), fake(BASE64URL, 33, 27)),
        ),
        (
            "openai-api-key",
            "/app/a.txt",
            format!("sk-{}\n", fake(ALNUM, 48, 28)),
        ),
        (
            "anthropic-api-key",
            "/app/a.txt",
            "ANTHROPIC_API_KEY=sk-ant-api03-...\n".into(),
        ),
        (
            "huggingface-token",
            "/app/a.py",
            "from huggingface_hub import hf_hub_download_and_cache_this_file\n".into(),
        ),
        (
            "vercel-token",
            "/app/a.txt",
            "vcp_short\n".into(),
        ),
        (
            "vercel-token-assigned",
            "/app/vercel.json",
            "{\"vercel_token_url\": \"https://vercel.com\"}\n".into(),
        ),
        (
            "supabase-service-role-key",
            "/app/.env",
            format!(
                "NEXT_PUBLIC_SUPABASE_ANON_KEY={}\n",
                jwt(r#"{"iss":"supabase","ref":"abcdefghijklmnopqrst","role":"anon"}"#, 29)
            ),
        ),
        (
            "supabase-service-role-key",
            "/app/supabase/.env",
            format!(
                "SERVICE_ROLE_KEY={}\n",
                jwt(r#"{"iss":"supabase-demo","role":"service_role","exp":1983812996}"#, 30)
            ),
        ),
        (
            "supabase-access-token",
            "/app/a.txt",
            "sbp_0123\n".into(),
        ),
        (
            "supabase-secret-key",
            "/app/.env",
            format!("NEXT_PUBLIC_SUPABASE_KEY=sb_publishable_{}\n", fake(BASE64URL, 31, 31)),
        ),
        (
            "firebase-cloud-messaging-server-key",
            "/app/a.txt",
            "AAAA:APA91b\n".into(),
        ),
        (
            "sentry-dsn-secret",
            "/app/sentry.client.config.js",
            format!(
                "dsn: 'https://{}@o123456.ingest.sentry.io/4501'\n",
                fake(HEX, 32, 32)
            ),
        ),
        (
            "sentry-auth-token",
            "/app/a.txt",
            "SENTRY_AUTH_TOKEN=sntrys_YOUR_TOKEN_HERE\n".into(),
        ),
        (
            "auth0-client-secret",
            "/app/.env",
            "AUTH0_CLIENT_SECRET=${AUTH0_CLIENT_SECRET}\n".into(),
        ),
        (
            "onepassword-service-account-token",
            "/app/a.txt",
            "ops_eyJ...\n".into(),
        ),
        (
            "private-key",
            "/app/crypto.js",
            "const header = '-----BEGIN PRIVATE KEY-----';\n".into(),
        ),
        (
            "private-key",
            "/app/cert.pem",
            pem("CERTIFICATE", 33),
        ),
        (
            "ssh2-private-key",
            "/app/a.txt",
            "---- BEGIN SSH2 PUBLIC KEY ----\nAAAAB3NzaC1yc2EAAAADAQABAAABAQ\n---- END SSH2 PUBLIC KEY ----\n".into(),
        ),
        (
            "putty-private-key",
            "/app/a.txt",
            "PuTTY-User-Key-File-3: ssh-ed25519\n(see docs)\n".into(),
        ),
        (
            "age-secret-key",
            "/app/a.txt",
            format!("age1{}\n", fake(BECH32, 58, 34).to_lowercase()),
        ),
        (
            "kubernetes-client-key",
            "/root/.kube/config",
            "    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\n".into(),
        ),
        (
            "url-credentials",
            "/app/.env",
            "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app\n".into(),
        ),
        (
            "url-credentials",
            "/app/Tiny.pm",
            "C<http://user:pass@proxy.example.com/>.\n".into(),
        ),
        (
            "jdbc-password",
            "/app/application.properties",
            "spring.datasource.url=jdbc:postgresql://db:5432/app?user=app&password=${DB_PASSWORD}\n".into(),
        ),
        (
            "connection-string-password",
            "/app/appsettings.json",
            "\"Default\": \"Server=db;Database=app;User Id=app;Password=<password>;\"\n".into(),
        ),
        (
            "netrc-password",
            "/app/notes.txt",
            format!("password {}\n", fake(ALNUM, 20, 35)),
        ),
        (
            "pgpass-password",
            "/app/hosts.txt",
            format!("db.internal:5432:app:app:{}\n", fake(ALNUM, 20, 36)),
        ),
        (
            "jwt",
            "/app/node_modules/jsonwebtoken/README.md",
            format!(
                "token: {}\n",
                jwt(r#"{"sub":"1234567890","name":"John Doe","iat":1516239022}"#, 37)
            ),
        ),
        (
            "jwt",
            "/app/.next/static/chunks/main.js",
            format!(
                "const anon=\"{}\";",
                jwt(r#"{"iss":"supabase","ref":"abcdefghijklmnopqrst","role":"anon"}"#, 38)
            ),
        ),
        (
            ASSIGNMENT_RULE_ID,
            "/app/.env",
            "DB_PASSWORD=${DB_PASSWORD}\nAPI_TOKEN=op://vault/item/field\nSECRET_KEY=changeme\n".into(),
        ),
        (
            ASSIGNMENT_RULE_ID,
            "/app/config.yaml",
            "password: prod\ntoken: {{ .Values.token }}\n".into(),
        ),
        (
            ASSIGNMENT_RULE_ID,
            "/app/package-lock.json",
            format!(
                "{{\"packages\":{{\"node_modules/next\":{{\"integrity\":\"sha512-{}==\"}}}}}}",
                fake(BASE64, 86, 39)
            ),
        ),
    ]
}

fn rules_fired(path: &str, text: &str) -> Vec<String> {
    Scanner::new()
        .scan_file(path, text.as_bytes())
        .into_iter()
        .map(|m| m.rule_id)
        .collect()
}

#[test]
fn every_rule_fires_on_its_format() {
    let mut failures = Vec::new();
    for (rule, path, text) in fire_cases() {
        let found = rules_fired(path, &text);
        if !found.iter().any(|r| r == rule) {
            failures.push(format!("{rule} did not fire in {path}: found {found:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fire_cases_report_one_finding() {
    // A secret is reported once, by the most specific rule.
    let mut failures = Vec::new();
    for (rule, path, text) in fire_cases() {
        let found = rules_fired(path, &text);
        if found.len() != 1 {
            failures.push(format!(
                "{rule} in {path}: expected one finding, found {found:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_stays_quiet_on_near_misses() {
    let mut failures = Vec::new();
    for (rule, path, text) in quiet_cases() {
        let found = rules_fired(path, &text);
        if found.iter().any(|r| r == rule) {
            failures.push(format!("{rule} fired in {path}: {found:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_has_fire_and_quiet_cases() {
    let fire: Vec<&str> = fire_cases().iter().map(|c| c.0).collect();
    let quiet: Vec<&str> = quiet_cases().iter().map(|c| c.0).collect();
    for rule in RULES.iter().map(|r| r.id).chain([ASSIGNMENT_RULE_ID]) {
        assert!(fire.contains(&rule), "{rule} has no must-fire case");
        assert!(quiet.contains(&rule), "{rule} has no must-not-fire case");
    }
}

#[test]
fn rule_table_is_well_formed() {
    let mut ids = std::collections::HashSet::new();
    for rule in RULES {
        assert!(ids.insert(rule.id), "duplicate rule id {}", rule.id);
        assert!(
            rule.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{} is not kebab-case",
            rule.id
        );
        assert!(!rule.title.is_empty(), "{} has no title", rule.id);
        for keyword in rule.keywords {
            assert_eq!(
                *keyword,
                keyword.to_lowercase(),
                "{}: keyword {keyword:?} is not lower-case",
                rule.id
            );
            assert!(
                keyword.len() >= 3,
                "{}: keyword {keyword:?} is too short",
                rule.id
            );
        }
        assert!(
            !rule.keywords.is_empty() || !rule.file_names.is_empty(),
            "{} has neither keywords nor file names, so it would run on every file",
            rule.id
        );
    }
}

#[test]
fn quiet_cases_are_quiet_overall() {
    // Documented examples and placeholders must not fire any rule, not only their own.
    let decoys = [
        (
            "/app/docs.md",
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n".to_owned(),
        ),
        (
            "/app/.env",
            "DB_PASSWORD=${DB_PASSWORD}\nAPI_TOKEN=op://vault/item/field\nSECRET_KEY=changeme\n"
                .to_owned(),
        ),
        (
            "/app/README.txt",
            "export GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n".to_owned(),
        ),
    ];
    for (path, text) in decoys {
        assert!(rules_fired(path, &text).is_empty(), "{path}: {text}");
    }
}
