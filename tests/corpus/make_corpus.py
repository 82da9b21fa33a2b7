#!/usr/bin/env python3
"""Write the labelled secrets corpus: fake credentials in each provider's format, and decoys.

Usage: make_corpus.py OUT_DIR

Writes three layer trees and the labels:
  OUT_DIR/layer-app/      the application (/app, with node_modules and a .next build)
  OUT_DIR/layer-home/     credentials in home directories (/root)
  OUT_DIR/layer-deleted/  files that build.sh adds in one layer and deletes in the next
  OUT_DIR/labels.json     {"positives": [...], "decoys": [...]}

Each positive is {"path", "line", "first_line", "last_line", "rule", "class", "context"}: the
file inside the image, the 1-based line where the credential starts, the lines a multi-line
credential spans (a PEM block, a service-account JSON), the imgaudit rule expected to report
it, its provider class, a short description of how it is written, and the value (for
checking that reports never print it). Each decoy is {"path", "kind"}:
a file in which no tool should report anything (documented example keys, placeholders,
hashes, UUIDs, base64 blobs, minified JavaScript, source maps, lockfiles, public keys).

Every value is generated from a fixed seed, so the corpus is the same on every run and the
repository holds no credential-shaped literals. The values grant access to nothing.
"""

import base64
import hashlib
import json
import os
import random
import string
import sys
import zlib

RNG = random.Random(20261204)

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
HEX_UPPER = "0123456789ABCDEF"
BASE32 = string.ascii_uppercase + "234567"
BASE64 = string.ascii_letters + string.digits + "+/"
BASE64URL = string.ascii_letters + string.digits + "_-"
LOWER_ALNUM = string.ascii_lowercase + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


def rand(alphabet, length):
    return "".join(RNG.choice(alphabet) for _ in range(length))


def digits(length):
    return str(RNG.randint(1, 9)) + rand(string.digits, length - 1)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def base62(number, width):
    out = ""
    while number:
        number, rest = divmod(number, 62)
        out = BASE62[rest] + out
    return out.rjust(width, "0")


def checksummed(prefix, length):
    """A GitHub-style token: random base62 characters and a base62 CRC32 of them."""
    body = rand(ALNUM, length - 6)
    return prefix + body + base62(zlib.crc32(body.encode()), 6)


def jwt(claims):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    return f"{header}.{payload}.{b64url(RNG.randbytes(32))}"


def pem_body(lines, width=64):
    return "\n".join(rand(BASE64, width) for _ in range(lines))


def pem(kind, lines=12, headers=""):
    return f"-----BEGIN {kind}-----\n{headers}{pem_body(lines)}\n{rand(BASE64, 20)}==\n-----END {kind}-----\n"


# ---------------------------------------------------------------------------------------------
# Token generators per provider format. Each returns the credential as it appears in a file.

TOKENS = {
    "aws-access-key-id": lambda: RNG.choice(["AKIA", "ASIA"]) + rand(BASE32, 16),
    "aws-secret-access-key": lambda: rand(ALNUM + "/+", 40),
    "gcp-api-key": lambda: "AIza" + rand(BASE64URL, 35),
    "azure-storage-account-key": lambda: base64.b64encode(RNG.randbytes(64)).decode(),
    "azure-shared-access-key": lambda: base64.b64encode(RNG.randbytes(32)).decode(),
    "azure-ad-client-secret": lambda: rand(ALNUM, 3) + str(RNG.randint(0, 9)) + "Q~" + rand(ALNUM + "_~.-", 34),
    "digitalocean-token": lambda: RNG.choice(["dop_v1_", "doo_v1_"]) + rand(HEX, 64),
    "github-token": lambda: checksummed(RNG.choice(["ghp_", "gho_", "ghs_", "ghu_"]), 36),
    "github-fine-grained-token": lambda: "github_pat_" + rand(ALNUM, 22) + "_" + rand(ALNUM, 59),
    "gitlab-token": lambda: "glpat-" + rand(BASE64URL.replace("-", ""), 20),
    "gitlab-deploy-token": lambda: "gldt-" + rand(ALNUM, 20),
    "gitlab-runner-token": lambda: RNG.choice(["glrt-", "GR1348941"]) + rand(ALNUM + "_", 20),
    "gitlab-other-token": lambda: "glptt-" + rand(HEX, 40),
    "bitbucket-app-password": lambda: "ATBB" + rand(ALNUM, 28) + rand(HEX_UPPER, 8),
    "atlassian-api-token": lambda: "ATATT3xFfGF0" + rand(BASE64URL, 180) + "=" + rand(HEX_UPPER, 8),
    "bitbucket-client-secret": lambda: rand(ALNUM, 32),
    "npm-token": lambda: checksummed("npm_", 36),
    "npmrc-auth": lambda: "%s-%s-%s-%s-%s" % (rand(HEX, 8), rand(HEX, 4), rand(HEX, 4), rand(HEX, 4), rand(HEX, 12)),
    "pypi-token": lambda: "pypi-AgEIcHlwaS5vcmc" + rand(BASE64URL, 150),
    "rubygems-api-key": lambda: "rubygems_" + rand(HEX, 48),
    "nuget-api-key": lambda: "oy2" + rand(LOWER_ALNUM, 43),
    "docker-hub-token": lambda: "dckr_pat_" + rand(BASE64URL, 27),
    "docker-config-auth": lambda: base64.b64encode(f"deploy:{rand(ALNUM, 20)}".encode()).decode(),
    "stripe-webhook-secret": lambda: "whsec_" + rand(ALNUM, 32),
    "clerk-secret-key": lambda: RNG.choice(["sk_live_", "sk_test_"]) + rand(ALNUM, 42),
    "stripe-live-key": lambda: RNG.choice(["sk_live_", "rk_live_"]) + rand(ALNUM, RNG.choice([24, 99])),
    "square-access-token": lambda: RNG.choice(["EAAA" + rand(BASE64URL, 60), "sq0atp-" + rand(BASE64URL, 22)]),
    "square-oauth-secret": lambda: "sq0csp-" + rand(BASE64URL, 43),
    "braintree-access-token": lambda: f"access_token$production${rand(LOWER_ALNUM, 16)}${rand(HEX, 32)}",
    "slack-token": lambda: f"{RNG.choice(['xoxb', 'xoxp'])}-{digits(11)}-{digits(13)}-{rand(ALNUM, 24)}",
    "slack-app-token": lambda: f"xapp-1-A{rand(UPPER_ALNUM, 10)}-{digits(13)}-{rand(HEX, 64)}",
    "slack-webhook": lambda: f"https://hooks.slack.com/services/T{rand(UPPER_ALNUM, 8)}/B{rand(UPPER_ALNUM, 10)}/{rand(ALNUM, 24)}",
    "twilio-api-key": lambda: "SK" + rand(HEX, 32),
    "twilio-auth-token": lambda: rand(HEX, 32),
    "sendgrid-api-key": lambda: f"SG.{rand(BASE64URL, 22)}.{rand(BASE64URL, 43)}",
    "mailgun-api-key": lambda: RNG.choice(["key-" + rand(HEX, 32), f"{rand(HEX, 32)}-{rand(HEX, 8)}-{rand(HEX, 8)}"]),
    "discord-bot-token": lambda: f"{RNG.choice(['MT', 'OT', 'ND'])}{rand(BASE64URL, 24)}.{rand(BASE64URL, 6)}.{rand(BASE64URL, 38)}",
    "discord-webhook": lambda: f"https://discord.com/api/webhooks/{digits(18)}/{rand(BASE64URL, 68)}",
    "telegram-bot-token": lambda: f"{digits(10)}:AA{rand(BASE64URL, 33)}",
    "openai-api-key": lambda: RNG.choice([
        f"sk-proj-{rand(BASE64URL, 74)}T3BlbkFJ{rand(BASE64URL, 74)}",
        f"sk-{rand(ALNUM, 20)}T3BlbkFJ{rand(ALNUM, 20)}",
        f"sk-svcacct-{rand(BASE64URL, 74)}T3BlbkFJ{rand(BASE64URL, 74)}",
    ]),
    "anthropic-api-key": lambda: f"sk-ant-api03-{rand(BASE64URL, 93)}AA",
    "huggingface-token": lambda: "hf_" + rand(string.ascii_letters, 34),
    "vercel-token": lambda: RNG.choice(["vcp_", "vck_"]) + rand(ALNUM, 56),
    "vercel-token-assigned": lambda: rand(ALNUM, 24),
    "supabase-service-role-key": lambda: jwt({"iss": "supabase", "ref": rand(string.ascii_lowercase, 20), "role": "service_role", "iat": 1700000000, "exp": 2015576000}),
    "supabase-access-token": lambda: "sbp_" + rand(HEX, 40),
    "supabase-secret-key": lambda: "sb_secret_" + rand(BASE64URL, 31),
    "firebase-cloud-messaging-server-key": lambda: f"AAAA{rand(BASE64URL, 7)}:APA91b{rand(BASE64URL, 134)}",
    "sentry-dsn-secret": lambda: f"https://{rand(HEX, 32)}:{rand(HEX, 32)}@o{digits(6)}.ingest.sentry.io/{digits(7)}",
    "sentry-auth-token": lambda: RNG.choice([
        "sntryu_" + rand(HEX, 64),
        "sntrys_" + b64url(json.dumps({"iat": 1700000000, "url": "https://sentry.io", "org": "acme"}).encode()) + "_" + rand(BASE64, 43),
    ]),
    "auth0-client-secret": lambda: rand(BASE64URL, 64),
    "onepassword-service-account-token": lambda: "ops_" + b64url(json.dumps({"signInAddress": "my.1password.com", "userAuth": {"method": "SRPg-4096", "alg": "PBES2g-HS256", "iterations": 650000, "salt": rand(BASE64URL, 22)}, "email": f"{rand(string.ascii_lowercase, 12)}@1passwordserviceaccounts.com", "srpX": rand(HEX, 64), "muk": {"alg": "A256GCM", "ext": True, "k": rand(BASE64URL, 43), "key_ops": ["encrypt", "decrypt"], "kty": "oct", "kid": "mp"}, "secretKey": "A3-" + rand(UPPER_ALNUM, 6), "throttleSecret": {"seed": rand(HEX, 64), "uuid": rand(UPPER_ALNUM, 26)}, "deviceUuid": rand(LOWER_ALNUM, 26)}).encode()),
    "age-secret-key": lambda: "AGE-SECRET-KEY-1" + rand(BECH32, 58),
    "jwt": lambda: jwt({"sub": f"user-{digits(5)}", "scope": "admin", "iat": 1700000000, "exp": 2015576000}),
}

# ---------------------------------------------------------------------------------------------
# Corpus assembly


class Corpus:
    def __init__(self, out):
        self.out = out
        self.positives = []
        self.decoys = []

    def write(self, layer, path, text, positives=(), decoy=None):
        """Write TEXT to PATH (absolute, inside the image) in LAYER. POSITIVES lists
        (needle, rule, class, context): the line that contains NEEDLE is labelled."""
        full = os.path.join(self.out, layer, path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as handle:
            handle.write(text)
        for needle, rule, klass, context, *extent in positives:
            offset = text.index(needle)
            line = text.count("\n", 0, offset) + 1
            # A multi-line credential (a PEM block, a service-account JSON) spans lines; a
            # tool may report any line inside it.
            span = extent[0] if extent else needle
            span_offset = text.index(span)
            first = text.count("\n", 0, span_offset) + 1
            last = first + span.rstrip("\n").count("\n")
            secret = span if extent else needle
            self.positives.append({"path": path, "line": line, "first_line": first, "last_line": last,
                                   "rule": rule, "class": klass, "context": context, "value": secret})
        if decoy:
            self.decoys.append({"path": path, "kind": decoy})

    def save(self):
        with open(os.path.join(self.out, "labels.json"), "w", encoding="utf-8") as handle:
            json.dump({"positives": self.positives, "decoys": self.decoys}, handle, indent=1, sort_keys=True)
            handle.write("\n")


CLASS = {
    "aws-access-key-id": "cloud", "aws-secret-access-key": "cloud", "gcp-api-key": "cloud",
    "gcp-service-account-key": "cloud", "azure-storage-account-key": "cloud",
    "azure-shared-access-key": "cloud", "azure-ad-client-secret": "cloud", "digitalocean-token": "cloud",
    "github-token": "code-host", "github-fine-grained-token": "code-host", "gitlab-token": "code-host",
    "gitlab-deploy-token": "code-host", "gitlab-runner-token": "code-host", "gitlab-other-token": "code-host",
    "bitbucket-app-password": "code-host", "atlassian-api-token": "code-host", "bitbucket-client-secret": "code-host",
    "npm-token": "package-registry", "npmrc-auth": "package-registry", "pypi-token": "package-registry",
    "rubygems-api-key": "package-registry", "nuget-api-key": "package-registry",
    "docker-hub-token": "package-registry", "docker-config-auth": "package-registry",
    "stripe-webhook-secret": "payments", "stripe-live-key": "payments", "square-access-token": "payments",
    "square-oauth-secret": "payments", "braintree-access-token": "payments",
    "slack-token": "messaging", "slack-app-token": "messaging", "slack-webhook": "messaging",
    "twilio-api-key": "messaging", "twilio-auth-token": "messaging", "sendgrid-api-key": "messaging",
    "mailgun-api-key": "messaging", "discord-bot-token": "messaging", "discord-webhook": "messaging",
    "telegram-bot-token": "messaging",
    "openai-api-key": "ai", "anthropic-api-key": "ai", "huggingface-token": "ai",
    "vercel-token": "saas", "vercel-token-assigned": "saas", "supabase-service-role-key": "saas",
    "supabase-access-token": "saas", "supabase-secret-key": "saas", "firebase-cloud-messaging-server-key": "saas",
    "sentry-dsn-secret": "saas", "sentry-auth-token": "saas", "clerk-secret-key": "saas",
    "auth0-client-secret": "saas", "onepassword-service-account-token": "saas",
    "private-key": "private-key", "ssh2-private-key": "private-key", "putty-private-key": "private-key",
    "age-secret-key": "private-key", "kubernetes-client-key": "private-key",
    "url-credentials": "connection-string", "jdbc-password": "connection-string",
    "connection-string-password": "connection-string", "pgpass-password": "connection-string",
    "netrc-password": "generic", "jwt": "generic", "secret-assignment": "generic",
}

# Variable names per rule, for files that assign the token to a variable.
NAMES = {
    "aws-access-key-id": "AWS_ACCESS_KEY_ID", "aws-secret-access-key": "AWS_SECRET_ACCESS_KEY",
    "gcp-api-key": "GOOGLE_MAPS_API_KEY", "azure-storage-account-key": "AZURE_STORAGE_KEY",
    "azure-ad-client-secret": "AZURE_CLIENT_SECRET", "digitalocean-token": "DIGITALOCEAN_TOKEN",
    "github-token": "GITHUB_TOKEN", "github-fine-grained-token": "GH_PAT", "gitlab-token": "GITLAB_TOKEN",
    "gitlab-deploy-token": "GITLAB_DEPLOY_TOKEN", "gitlab-runner-token": "RUNNER_TOKEN",
    "gitlab-other-token": "GITLAB_TRIGGER_TOKEN", "bitbucket-app-password": "BITBUCKET_APP_PASSWORD",
    "atlassian-api-token": "JIRA_API_TOKEN", "bitbucket-client-secret": "BITBUCKET_CLIENT_SECRET",
    "npm-token": "NPM_TOKEN", "pypi-token": "PYPI_TOKEN", "rubygems-api-key": "GEM_HOST_API_KEY",
    "nuget-api-key": "NUGET_API_KEY", "docker-hub-token": "DOCKERHUB_TOKEN",
    "stripe-webhook-secret": "STRIPE_WEBHOOK_SECRET", "clerk-secret-key": "CLERK_SECRET_KEY",
    "stripe-live-key": "STRIPE_SECRET_KEY", "square-access-token": "SQUARE_ACCESS_TOKEN",
    "square-oauth-secret": "SQUARE_APPLICATION_SECRET", "braintree-access-token": "BRAINTREE_ACCESS_TOKEN",
    "slack-token": "SLACK_BOT_TOKEN", "slack-app-token": "SLACK_APP_TOKEN", "slack-webhook": "SLACK_WEBHOOK_URL",
    "twilio-api-key": "TWILIO_API_KEY", "twilio-auth-token": "TWILIO_AUTH_TOKEN",
    "sendgrid-api-key": "SENDGRID_API_KEY", "mailgun-api-key": "MAILGUN_API_KEY",
    "discord-bot-token": "DISCORD_BOT_TOKEN", "discord-webhook": "DISCORD_WEBHOOK_URL",
    "telegram-bot-token": "TELEGRAM_BOT_TOKEN", "openai-api-key": "OPENAI_API_KEY",
    "anthropic-api-key": "ANTHROPIC_API_KEY", "huggingface-token": "HF_TOKEN", "vercel-token": "VERCEL_TOKEN",
    "vercel-token-assigned": "VERCEL_TOKEN", "supabase-service-role-key": "SUPABASE_SERVICE_ROLE_KEY",
    "supabase-access-token": "SUPABASE_ACCESS_TOKEN", "supabase-secret-key": "SUPABASE_SECRET_KEY",
    "firebase-cloud-messaging-server-key": "FCM_SERVER_KEY", "sentry-dsn-secret": "SENTRY_DSN",
    "sentry-auth-token": "SENTRY_AUTH_TOKEN", "auth0-client-secret": "AUTH0_CLIENT_SECRET",
    "onepassword-service-account-token": "OP_SERVICE_ACCOUNT_TOKEN", "age-secret-key": "SOPS_AGE_KEY",
    "jwt": "SESSION_TOKEN", "azure-shared-access-key": "SERVICEBUS_KEY",
}

# Rules whose token needs its provider's name next to it.
NEEDS_CONTEXT = {
    "twilio-api-key": "TWILIO_ACCOUNT_SID=AC{sid}\n",
    "mailgun-api-key": "MAILGUN_DOMAIN=mg.acme-mail.net\n",
    "discord-bot-token": "",
    "telegram-bot-token": "",
    "clerk-secret-key": "NEXT_PUBLIC_CLERK_SIGN_IN_URL=/sign-in\n",
}


# Rules whose format is recognised only next to the provider's name (in the key or nearby).
KEYED = {
    "twilio-api-key", "twilio-auth-token", "mailgun-api-key", "discord-bot-token",
    "telegram-bot-token", "clerk-secret-key", "vercel-token-assigned", "bitbucket-client-secret",
    "auth0-client-secret",
}


def positive(token, rule, context):
    return (token, rule, CLASS[rule], context)


def env_files(corpus):
    """Tokens assigned to variables: .env, JSON, YAML, JS, Python and shell."""
    env_lines, env_pos = ["# production settings", "NODE_ENV=production", "PORT=3000"], []
    json_fields, json_pos = {}, []
    yaml_lines, yaml_pos = ["app:", "  name: storefront", "  secrets:"], []
    js_lines, js_pos = ["'use strict';", "module.exports = {"], []
    py_lines, py_pos = ["import os", "", "DEBUG = False"], []
    sh_lines, sh_pos = ["#!/bin/sh", "set -eu"], []
    for rule, make in TOKENS.items():
        if rule in ("docker-config-auth", "npmrc-auth", "age-secret-key", "azure-storage-account-key", "azure-shared-access-key"):
            continue
        name = NAMES.get(rule, rule.upper().replace("-", "_"))
        if rule == "vercel-token-assigned":
            name = "VERCEL_TOKEN"
        context = NEEDS_CONTEXT.get(rule)
        if context is not None:
            env_lines.extend(context.format(sid=rand(HEX, 32)).splitlines())
        token = make()
        env_lines.append(f"{name}={token}")
        env_pos.append(positive(token, rule, ".env assignment"))
        # The same provider once more, written the way other files write it. Formats that
        # are recognised by the provider's name next to them go to YAML under that name.
        other = make()
        key = name.lower()
        choice = 1 if rule in KEYED else RNG.randrange(4)
        if choice == 0:
            json_fields[key] = other
            json_pos.append(positive(other, rule, "JSON value"))
        elif choice == 1:
            yaml_lines.append(f"    {key}: \"{other}\"")
            yaml_pos.append(positive(other, rule, "YAML value"))
        elif choice == 2:
            js_lines.append(f"  {key.replace('_', '')}: '{other}',")
            js_pos.append(positive(other, rule, "JavaScript object"))
        else:
            py_lines.append(f"{name} = os.environ.get('{name}', '{other}')")
            py_pos.append(positive(other, rule, "Python default"))
    for rule in ("aws-access-key-id", "github-token", "stripe-live-key", "openai-api-key"):
        token = TOKENS[rule]()
        sh_lines.append(f"curl -fsS -H \"Authorization: Bearer {token}\" https://api.internal/v1/ping")
        sh_pos.append(positive(token, rule, "shell header"))
    js_lines.append("};")
    corpus.write("layer-app", "/app/.env.production", "\n".join(env_lines) + "\n", env_pos)
    corpus.write("layer-app", "/app/config/secrets.json", json.dumps({"service": json_fields}, indent=2) + "\n", json_pos)
    corpus.write("layer-app", "/app/config/production.yml", "\n".join(yaml_lines) + "\n", yaml_pos)
    corpus.write("layer-app", "/app/lib/keys.js", "\n".join(js_lines) + "\n", js_pos)
    corpus.write("layer-app", "/app/scripts/settings.py", "\n".join(py_lines) + "\n", py_pos)
    corpus.write("layer-app", "/app/scripts/smoke.sh", "\n".join(sh_lines) + "\n", sh_pos)


def next_bundle(corpus):
    """Keys inlined by a Next.js build: one long minified line per chunk."""
    stripe = TOKENS["stripe-live-key"]()
    openai = TOKENS["openai-api-key"]()
    service_role = TOKENS["supabase-service-role-key"]()
    filler = ";".join(f"var {rand(string.ascii_lowercase, 2)}{i}=function(e,t){{return e+t*{i}}}" for i in range(400))
    text = (
        "(self.webpackChunk_N_E=self.webpackChunk_N_E||[]).push([[931],{" + filler
        + f';const s=require("stripe")("{stripe}");'
        + f'const o=new OpenAI({{apiKey:"{openai}"}});'
        + f'const a=createClient(process.env.SUPABASE_URL,"{service_role}");'
        + filler + "}]);\n"
    )
    corpus.write("layer-app", "/app/.next/server/app/api/checkout/route.js", text, [
        positive(stripe, "stripe-live-key", "minified server bundle"),
        positive(openai, "openai-api-key", "minified server bundle"),
        positive(service_role, "supabase-service-role-key", "minified server bundle"),
    ])
    slack = TOKENS["slack-webhook"]()
    text = '"use strict";exports.id=42;exports.modules={7:(e,t,n)=>{n.d(t,{notify:()=>r});' + f'const u="{slack}";' + "async function r(e){await fetch(u,{method:\"POST\",body:JSON.stringify({text:e})})}}};\n"
    corpus.write("layer-app", "/app/.next/server/chunks/42.js", text, [positive(slack, "slack-webhook", "minified server chunk")])


def config_files(corpus):
    """Credentials in the configuration files that tools read."""
    aws_id, aws_secret = TOKENS["aws-access-key-id"](), TOKENS["aws-secret-access-key"]()
    corpus.write("layer-home", "/root/.aws/credentials",
                 f"[default]\naws_access_key_id = {aws_id}\naws_secret_access_key = {aws_secret}\nregion = eu-west-1\n",
                 [positive(aws_id, "aws-access-key-id", "AWS credentials file"),
                  positive(aws_secret, "aws-secret-access-key", "AWS credentials file")])
    npm = TOKENS["npm-token"]()
    uuid_token = TOKENS["npmrc-auth"]()
    corpus.write("layer-home", "/root/.npmrc",
                 f"registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={npm}\n//npm.pkg.internal/:_authToken={uuid_token}\nalways-auth=true\n",
                 [positive(npm, "npm-token", ".npmrc"), positive(uuid_token, "npmrc-auth", ".npmrc UUID token")])
    auth = TOKENS["docker-config-auth"]()
    corpus.write("layer-home", "/root/.docker/config.json",
                 json.dumps({"auths": {"registry.acme-corp.io": {"auth": auth}}}, indent=1) + "\n",
                 [positive(auth, "docker-config-auth", "Docker config.json")])
    pypi = TOKENS["pypi-token"]()
    corpus.write("layer-home", "/root/.pypirc",
                 f"[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\npassword = {pypi}\n",
                 [positive(pypi, "pypi-token", ".pypirc")])
    gem = TOKENS["rubygems-api-key"]()
    corpus.write("layer-home", "/root/.gem/credentials", f"---\n:rubygems_api_key: {gem}\n",
                 [positive(gem, "rubygems-api-key", "gem credentials")])
    netrc = rand(ALNUM, 20)
    corpus.write("layer-home", "/root/.netrc", f"machine git.acme-corp.io\n  login deploy\n  password {netrc}\n",
                 [positive(netrc, "netrc-password", ".netrc")])
    pgpass = rand(ALNUM, 22)
    corpus.write("layer-home", "/root/.pgpass", f"# host:port:db:user:password\ndb.internal:5432:orders:orders:{pgpass}\n",
                 [positive(pgpass, "pgpass-password", ".pgpass")])
    age = TOKENS["age-secret-key"]()
    corpus.write("layer-home", "/root/.config/sops/age/keys.txt",
                 f"# created: 2026-01-04T10:00:00Z\n# public key: age1{rand(BECH32, 58).lower()}\n{age}\n",
                 [positive(age, "age-secret-key", "age key file")])
    key_data = base64.b64encode(pem("RSA PRIVATE KEY").encode()).decode()
    cert_data = base64.b64encode(pem("CERTIFICATE").encode()).decode()
    corpus.write("layer-home", "/root/.kube/config",
                 "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://k8s.internal:6443\n  name: prod\n"
                 f"users:\n- name: admin\n  user:\n    client-certificate-data: {cert_data}\n    client-key-data: {key_data}\n",
                 [positive(key_data, "kubernetes-client-key", "kubeconfig")])
    git = TOKENS["github-token"]()
    corpus.write("layer-deleted", "/app/.git-credentials", f"https://deploy-bot:{git}@github.com\n",
                 [positive(git, "github-token", "git credentials, deleted by a later layer")])
    gitlab = TOKENS["gitlab-token"]()
    corpus.write("layer-deleted", "/tmp/build/.env.build", f"CI_JOB=build\nGITLAB_TOKEN={gitlab}\n",
                 [positive(gitlab, "gitlab-token", ".env deleted by a later layer")])

    # Service accounts and keys.
    sa_key = pem("PRIVATE KEY").replace("\n", "\\n")
    sa_text = (json.dumps({"type": "service_account", "project_id": "acme-prod", "private_key_id": rand(HEX, 40)}, indent=2)[:-2]
               + f',\n  "private_key": "{sa_key}",\n  "client_email": "deployer@acme-prod.iam.gserviceaccount.com",\n  "client_id": "{digits(21)}"\n}}\n')
    corpus.write("layer-app", "/app/credentials/gcp-service-account.json", sa_text,
                 [("\"private_key\": ", "gcp-service-account-key", "cloud", "service account JSON", sa_text)])
    storage = TOKENS["azure-storage-account-key"]()
    bus = TOKENS["azure-shared-access-key"]()
    mssql = rand(ALNUM, 18)
    corpus.write("layer-app", "/app/appsettings.Production.json", json.dumps({
        "ConnectionStrings": {
            "Storage": f"DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey={storage};EndpointSuffix=core.windows.net",
            "ServiceBus": f"Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={bus}",
            "Orders": f"Server=tcp:sql.internal,1433;Initial Catalog=orders;User ID=orders;Password={mssql};Encrypt=True;",
        },
        "Logging": {"LogLevel": {"Default": "Information"}},
    }, indent=2) + "\n", [
        positive(storage, "azure-storage-account-key", "Azure storage connection string"),
        positive(bus, "azure-shared-access-key", "Service Bus connection string"),
        positive(mssql, "connection-string-password", "ADO.NET connection string"),
    ])
    jdbc = rand(ALNUM, 16)
    corpus.write("layer-app", "/app/BOOT-INF/classes/application.properties",
                 f"server.port=8080\nspring.datasource.url=jdbc:mysql://mysql.internal:3306/shop?user=shop&password={jdbc}&useSSL=true\nspring.jpa.open-in-view=false\n",
                 [positive(jdbc, "jdbc-password", "JDBC URL")])
    urls = {
        "DATABASE_URL": f"postgresql://orders:{rand(ALNUM, 20)}@pg.internal:5432/orders",
        "MONGODB_URI": f"mongodb+srv://app:{rand(ALNUM, 18)}@cluster0.x1y2z.mongodb.net/shop?retryWrites=true",
        "MYSQL_URL": f"mysql://shop:{rand(ALNUM, 16)}@mysql.internal:3306/shop",
        "REDIS_URL": f"rediss://:{rand(ALNUM, 24)}@cache.internal:6380/0",
        "AMQP_URL": f"amqp://worker:{rand(ALNUM, 16)}@rabbit.internal:5672/jobs",
    }
    lines, labels = [], []
    for name, url in urls.items():
        password = url.split(":")[2].split("@")[0]
        lines.append(f"{name}={url}")
        labels.append(positive(password, "url-credentials", f"{name} connection URL"))
    corpus.write("layer-app", "/app/.env", "\n".join(lines) + "\n", labels)

    # Private keys of every armour type.
    keys = [
        ("/app/certs/server.key", "RSA PRIVATE KEY", ""),
        ("/app/certs/tls.key", "PRIVATE KEY", ""),
        ("/app/certs/ec.key", "EC PRIVATE KEY", ""),
        ("/root/.ssh/id_ed25519", "OPENSSH PRIVATE KEY", ""),
        ("/root/.ssh/id_dsa", "DSA PRIVATE KEY", ""),
        ("/app/certs/client.key", "ENCRYPTED PRIVATE KEY", ""),
        ("/app/certs/legacy.key", "RSA PRIVATE KEY", f"Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{rand(HEX_UPPER, 32)}\n\n"),
        ("/app/signing/release.asc", "PGP PRIVATE KEY BLOCK", "Version: GnuPG v2\n\n"),
    ]
    for path, kind, headers in keys:
        layer = "layer-home" if path.startswith("/root") else "layer-app"
        text = pem(kind, headers=headers)
        corpus.write(layer, path, text, [("-----BEGIN", "private-key", "private-key", f"{kind} file", text)])
    ssh2 = f"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: \"rsa-key-20260104\"\n{pem_body(10, 70)}\n---- END SSH2 ENCRYPTED PRIVATE KEY ----\n"
    corpus.write("layer-app", "/app/certs/deploy.ssh2", ssh2, [("---- BEGIN", "ssh2-private-key", "private-key", "SSH2 key file", ssh2)])
    putty = (f"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n{rand(BASE64, 64)}\n{rand(BASE64, 16)}\n"
             f"Private-Lines: 1\n{rand(BASE64, 44)}\nPrivate-MAC: {rand(HEX, 64)}\n")
    corpus.write("layer-app", "/app/certs/deploy.ppk", putty, [("PuTTY-User-Key-File-3", "putty-private-key", "private-key", "PuTTY key file", putty)])
    escaped = pem("PRIVATE KEY").replace("\n", "\\n")
    corpus.write("layer-app", "/app/.env.local", f"FIREBASE_PROJECT_ID=acme-prod\nFIREBASE_PRIVATE_KEY=\"{escaped}\"\n",
                 [("FIREBASE_PRIVATE_KEY", "private-key", "private-key", "PEM with \\n escapes in .env", escaped)])

    # Generic assignments: values without a provider format under secret-like keys.
    generic = [
        ("/app/.env.staging", "SESSION_SECRET={v}\nDB_PASSWORD={w}\n", 2),
        ("/app/config/database.yml", "production:\n  adapter: postgresql\n  password: {v}\n  pool: 5\n", 1),
        ("/app/config/settings.toml", "[smtp]\nhost = \"smtp.internal\"\npassword = \"{v}\"\n", 1),
        ("/app/WEB-INF/classes/app.properties", "mail.smtp.host=smtp.internal\nmail.smtp.password={v}\n", 1),
        ("/root/.m2/settings.xml", "<settings><servers><server><id>nexus</id><username>ci</username><password>{v}</password></server></servers></settings>\n", 1),
        ("/app/terraform.tfvars", "region = \"eu-west-1\"\ndb_admin_password = \"{v}\"\n", 1),
        ("/app/config/app.ini", "[security]\nsecret_key = {v}\n", 1),
    ]
    for path, template, count in generic:
        values = [rand(ALNUM + "!#%", 20) for _ in range(count)]
        text = template.format(v=values[0], w=values[-1])
        layer = "layer-home" if path.startswith("/root") else "layer-app"
        corpus.write(layer, path, text, [positive(v, "secret-assignment", f"generic key in {os.path.basename(path)}") for v in values])


def variants(corpus):
    """Places where credentials leak in images, written in less regular ways: CRLF line
    ends, `export` with quotes, shell history, logs, CI workflows, Kubernetes manifests."""
    stripe, sendgrid = TOKENS["stripe-live-key"](), TOKENS["sendgrid-api-key"]()
    password = rand(ALNUM, 18)
    corpus.write("layer-app", "/app/.env.windows",
                 f"STRIPE_SECRET_KEY={stripe}\r\nSENDGRID_API_KEY=\"{sendgrid}\"\r\nSMTP_PASSWORD={password}\r\n",
                 [positive(stripe, "stripe-live-key", ".env with CRLF"),
                  positive(sendgrid, "sendgrid-api-key", ".env with CRLF, quoted"),
                  positive(password, "secret-assignment", ".env with CRLF")])
    github, npm, mysql = TOKENS["github-token"](), TOKENS["npm-token"](), rand(ALNUM, 14)
    corpus.write("layer-home", "/root/.bash_history",
                 f"ls -la\nexport GITHUB_TOKEN={github}\nnpm config set //registry.npmjs.org/:_authToken {npm}\n"
                 f"mysql -h db.internal -u root -p{mysql} shop\nexit\n",
                 [positive(github, "github-token", "shell history export"),
                  positive(npm, "npm-token", "shell history npm config"),
                  positive(mysql, "secret-assignment", "mysql -p password in shell history")])
    bearer = TOKENS["jwt"]()
    telegram = TOKENS["telegram-bot-token"]()
    corpus.write("layer-app", "/app/logs/app.log",
                 f"2026-01-04T10:00:01Z INFO request GET /health 200\n"
                 f"2026-01-04T10:00:02Z DEBUG outgoing headers: {{'Authorization': 'Bearer {bearer}'}}\n"
                 f"2026-01-04T10:00:03Z DEBUG POST https://api.telegram.org/bot{telegram}/sendMessage 200\n",
                 [positive(bearer, "jwt", "bearer token in a debug log"),
                  positive(telegram, "telegram-bot-token", "Telegram bot URL in a log")])
    vercel, docker = TOKENS["vercel-token"](), TOKENS["docker-hub-token"]()
    corpus.write("layer-app", "/app/.github/workflows/deploy.yml",
                 "name: deploy\non: push\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    env:\n"
                 f"      VERCEL_TOKEN: {vercel}\n    steps:\n      - uses: docker/login-action@v3\n        with:\n"
                 f"          username: acme\n          password: {docker}\n",
                 [positive(vercel, "vercel-token", "CI workflow env"),
                  positive(docker, "docker-hub-token", "CI workflow step input")])
    db_plain = rand(ALNUM, 20)
    db_b64 = base64.b64encode(rand(ALNUM, 24).encode()).decode()
    corpus.write("layer-app", "/app/k8s/secrets.yaml",
                 "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shop\ntype: Opaque\nstringData:\n"
                 f"  DB_PASSWORD: \"{db_plain}\"\ndata:\n  API_SECRET: {db_b64}\n",
                 [positive(db_plain, "secret-assignment", "Kubernetes Secret stringData"),
                  positive(db_b64, "secret-assignment", "Kubernetes Secret base64 data")])
    compose = rand(ALNUM, 16)
    corpus.write("layer-app", "/app/docker-compose.yml",
                 "services:\n  db:\n    image: postgres:16\n    environment:\n"
                 f"      - POSTGRES_USER=shop\n      - POSTGRES_PASSWORD={compose}\n",
                 [positive(compose, "secret-assignment", "compose environment list")])
    slack, anthropic = TOKENS["slack-token"](), TOKENS["anthropic-api-key"]()
    corpus.write("layer-app", "/app/public/index.html",
                 "<!doctype html><html><head><script>window.__CONFIG__={"
                 f"slack:\"{slack}\",ai:\"{anthropic}\"}}</script></head><body></body></html>\n",
                 [positive(slack, "slack-token", "inline script in HTML"),
                  positive(anthropic, "anthropic-api-key", "inline script in HTML")])
    pat = TOKENS["github-fine-grained-token"]()
    corpus.write("layer-app", "/app/package.json",
                 json.dumps({"name": "storefront", "private": True, "dependencies": {
                     "internal-ui": f"git+https://{pat}@github.com/acme/internal-ui.git"}}, indent=2) + "\n",
                 [positive(pat, "github-fine-grained-token", "token in a git dependency URL")])


def decoys(corpus):
    """Files in which nothing should fire."""
    corpus.write("layer-app", "/app/docs/deploy-aws.md",
                 "# Deploying\n\nUse your own keys. The AWS documentation example pair:\n\n"
                 "    aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
                 decoy="documented example keys")
    corpus.write("layer-app", "/app/.env.example",
                 "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app\nSTRIPE_SECRET_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx\n"
                 "OPENAI_API_KEY=<your-key>\nAPI_TOKEN=op://prod/api/token\nSESSION_SECRET=changeme\nGITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
                 "SLACK_BOT_TOKEN=xoxb-your-bot-token\nNEXTAUTH_SECRET={{ .Values.nextauth.secret }}\nSENDGRID_API_KEY=SG.xxxxxxxx.yyyyyyyy\n",
                 decoy="placeholders")
    corpus.write("layer-app", "/app/charts/values.yaml",
                 "database:\n  password: \"{{ .Values.global.dbPassword }}\"\n  existingSecret: db-credentials\nredis:\n  auth:\n    password: ${REDIS_PASSWORD}\n"
                 "apiToken: \"\"\njwtSecret: CHANGE_ME\n",
                 decoy="template references")
    hashes = "\n".join(
        f"{hashlib.sha256(RNG.randbytes(16)).hexdigest()}  dist/chunk-{i}.js" for i in range(30))
    corpus.write("layer-app", "/app/dist/SHA256SUMS", hashes + "\n", decoy="sha256 sums")
    corpus.write("layer-app", "/app/data/users.csv",
                 "id,email,password_hash,created\n" + "\n".join(
                     f"{RNG.randint(1, 99999)},user{i}@acme.test,$2b$12${rand(BASE64.replace('+', '.'), 53)},2026-01-0{i % 9 + 1}" for i in range(20)) + "\n",
                 decoy="bcrypt hashes")
    corpus.write("layer-app", "/app/data/ids.json",
                 json.dumps({"requestIds": ["%s-%s-%s-%s-%s" % (rand(HEX, 8), rand(HEX, 4), rand(HEX, 4), rand(HEX, 4), rand(HEX, 12)) for _ in range(40)],
                             "traceId": rand(HEX, 32), "etag": rand(HEX, 40)}, indent=1) + "\n",
                 decoy="UUIDs and hex ids")
    corpus.write("layer-app", "/app/public/logo.txt",
                 "data:image/png;base64," + base64.b64encode(RNG.randbytes(3000)).decode() + "\n", decoy="base64 blob")
    corpus.write("layer-app", "/app/.next/static/chunks/framework.js",
                 "(self.webpackChunk_N_E=self.webpackChunk_N_E||[]).push([[774],{" + ";".join(
                     f"{rand(string.ascii_letters, 3)}:function(e,t,n){{var r=n({RNG.randint(1, 9999)}),o=\"{rand(BASE64URL, 24)}\";e.exports=r(o)}}" for _ in range(600)) + "}]);\n",
                 decoy="minified JavaScript")
    mappings = ";".join(",".join(rand(BASE64, RNG.randint(4, 8)) for _ in range(20)) for _ in range(300))
    corpus.write("layer-app", "/app/.next/static/chunks/framework.js.map",
                 json.dumps({"version": 3, "file": "framework.js", "sources": ["webpack://_N_E/./node_modules/react/index.js"], "names": ["e", "t", "n"], "mappings": mappings}) + "\n",
                 decoy="source map")
    lock = {"name": "storefront", "lockfileVersion": 3, "packages": {}}
    for name in ["next", "react", "react-dom", "stripe", "@supabase/supabase-js", "openai", "zod", "jose"]:
        lock["packages"][f"node_modules/{name}"] = {
            "version": f"{RNG.randint(1, 15)}.{RNG.randint(0, 9)}.{RNG.randint(0, 9)}",
            "resolved": f"https://registry.npmjs.org/{name}/-/{name.split('/')[-1]}-1.0.0.tgz",
            "integrity": "sha512-" + base64.b64encode(RNG.randbytes(64)).decode(),
        }
    corpus.write("layer-app", "/app/package-lock.json", json.dumps(lock, indent=2) + "\n", decoy="npm lockfile")
    yarn = "".join(f'"{n}@^1.0.0":\n  version "1.0.{i}"\n  resolved "https://registry.yarnpkg.com/{n}/-/{n}-1.0.{i}.tgz#{rand(HEX, 40)}"\n  integrity sha512-{base64.b64encode(RNG.randbytes(64)).decode()}\n\n'
                   for i, n in enumerate(["ms", "debug", "cookie", "jose"]))
    corpus.write("layer-app", "/app/yarn.lock", "# yarn lockfile v1\n\n" + yarn, decoy="yarn lockfile")
    anon = jwt({"iss": "supabase", "ref": rand(string.ascii_lowercase, 20), "role": "anon", "iat": 1700000000, "exp": 2015576000})
    firebase_public = rand(LOWER_ALNUM, 20)
    corpus.write("layer-app", "/app/.next/static/chunks/pages/_app.js",
                 f'let c=createClient("https://{firebase_public}.supabase.co","{anon}");'
                 f'const stripePk="pk_live_{rand(ALNUM, 24)}";'
                 f'Sentry.init({{dsn:"https://{rand(HEX, 32)}@o{digits(6)}.ingest.sentry.io/{digits(7)}"}});\n',
                 decoy="public client keys (Supabase anon key, Stripe publishable key, Sentry public DSN)")
    corpus.write("layer-app", "/app/node_modules/jsonwebtoken/README.md",
                 "# jsonwebtoken\n\n```js\nvar token = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';\n```\n",
                 decoy="jwt.io tutorial token")
    corpus.write("layer-app", "/app/node_modules/jsonwebtoken/test/priv.pem", pem("RSA PRIVATE KEY"),
                 decoy="test fixture of an installed package")
    corpus.write("layer-app", "/app/node_modules/stripe/docs/usage.md",
                 f"Create a client with your key:\n\n    const stripe = require('stripe')('sk_live_{rand(ALNUM, 24)}');\n",
                 decoy="documentation of an installed package")
    corpus.write("layer-app", "/app/local.settings.json",
                 json.dumps({"Values": {"AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"}}, indent=1) + "\n",
                 decoy="Azurite development key")
    corpus.write("layer-app", "/app/certs/ca.crt", pem("CERTIFICATE"), decoy="certificate")
    corpus.write("layer-app", "/app/certs/server.pub", pem("PUBLIC KEY"), decoy="public key")
    corpus.write("layer-app", "/app/config/gpg.txt",
                 "YARN_GPG_KEY=7E72128327CEA306ADCD03577ED93CAA5CC1E170\nNODE_GPG_KEYS=" + " ".join(rand(HEX_UPPER, 40) for _ in range(4)) + "\n",
                 decoy="GPG fingerprints")
    corpus.write("layer-app", "/app/lib/crypto.js",
                 "const PEM_HEADER = '-----BEGIN PRIVATE KEY-----';\nconst PEM_FOOTER = '-----END PRIVATE KEY-----';\n"
                 "function isSecret(name) { return /password|secret|token/i.test(name); }\nconst passwordField = document.getElementById('password');\n",
                 decoy="code that mentions secrets")
    corpus.write("layer-app", "/app/config/defaults.yaml",
                 "auth:\n  token_url: https://auth.acme-corp.io/oauth/token\n  password_min_length: 12\n  secret_rotation_days: 90\n  token_ttl: 3600\n  public_key_path: /etc/keys/jwt.pub\n",
                 decoy="settings named like secrets")
    corpus.write("layer-app", "/app/public/locales/en.json",
                 json.dumps({"login": {"password": "Password", "forgotPassword": "Forgot your password?",
                                       "token": "Token", "secretQuestion": "What was the name of your first pet?",
                                       "apiKeyHint": "Paste your API key here"}}, indent=2) + "\n",
                 decoy="UI strings about passwords")
    corpus.write("layer-app", "/app/k8s/deployment.yaml",
                 "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: shop\n        key: DB_PASSWORD\n"
                 "  - name: API_TOKEN\n    value: $(API_TOKEN)\n",
                 decoy="secret references in a manifest")
    corpus.write("layer-app", "/app/.npmrc",
                 "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${NPM_TOKEN}\nengine-strict=true\n",
                 decoy="npmrc reading the token from the environment")
    corpus.write("layer-app", "/app/deploy/digests.txt",
                 "\n".join(f"ghcr.io/acme/app@sha256:{rand(HEX, 64)}  commit {rand(HEX, 40)}" for _ in range(10))
                 + f"\narn:aws:iam::{digits(12)}:role/deploy\narn:aws:secretsmanager:eu-west-1:{digits(12)}:secret:prod/db-{rand(ALNUM, 6)}\n",
                 decoy="image digests, commit ids and ARNs")
    corpus.write("layer-app", "/app/.git/config",
                 "[remote \"origin\"]\n\turl = https://github.com/acme/storefront.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
                 decoy="git remote without credentials")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    corpus = Corpus(out)
    env_files(corpus)
    next_bundle(corpus)
    config_files(corpus)
    variants(corpus)
    decoys(corpus)
    corpus.save()
    print(f"{len(corpus.positives)} positives and {len(corpus.decoys)} decoy files in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
