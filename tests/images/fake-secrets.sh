# Fake credentials that build.sh plants in the test images.
#
# Every value is random and grants access to nothing. Each has the shape of a
# real credential so that imgaudit's detectors fire on it. The npm and GitHub
# tokens end in the 6-character base62 CRC32 checksum of their 30 random base62
# characters, as in GitHub's token format of April 2021, which npm adopted in
# September 2021.
#
# The prefixes are written as separate string pieces ("npm""_...") so that
# secret scanners run over this repository do not report the source file
# itself. The built images contain the joined values.
# shellcheck shell=bash
# shellcheck disable=SC2034  # The variables are read by build.sh.

# node20-root: /app/.env (layer "COPY . /app").
FAKE_DATABASE_PASSWORD='SJCIKYgDkcoX88OXpoDnpP'
FAKE_DATABASE_URL="postgres""://app:${FAKE_DATABASE_PASSWORD}@db:5432/app"
FAKE_STRIPE_SECRET_KEY="sk_""live_ACNwZ3YdUKw0dBNvkIv4Eole"

# node20-root: config Env NPM_TOKEN.
FAKE_NPM_TOKEN_ENV="npm""_8LCtQ9CgRrpxeKdSVMvN9MPnOCv7d71CJSLL"
# node20-root: /root/.npmrc, added in one layer and deleted in a later one.
FAKE_NPM_TOKEN_NPMRC="npm""_OYQTsl7bZcJTUHVBvWSwko1qEmhF5d3sJPh6"
# node20-root: build argument in the history entry of "RUN |2 ... npm ci".
FAKE_NPM_TOKEN_BUILD_ARG="npm""_KwmsYUIGiuXdEFt39qvuJFR74cKU7o3vZd7A"

# testdata image: config Env NPM_TOKEN.
FAKE_NPM_TOKEN_TESTDATA="npm""_XGfhCr0NXVfxDlPM0AACphJIuDArh62snx29"
# testdata image: /app/.env (layer "COPY . /app").
FAKE_AWS_ACCESS_KEY_ID="AK""IAGBYJALP7KLEEM2VZ"
FAKE_AWS_SECRET_ACCESS_KEY='g/YxhSQfMWjmyt0U925QGPl7S1vyIyfRJn4uRt2r'
# testdata image: /app/.git-credentials, in the "COPY . /app" layer and deleted
# by a later layer.
FAKE_GITHUB_TOKEN="gh""p_3cQv3cqJlDDTP5alUKJkBq2NDQ8PiZ0tsbuG"

# node24-distroless decoy: a GPG key fingerprint (40 hex digits), not a secret.
DECOY_GPG_FINGERPRINT='7E72128327CEA306ADCD03577ED93CAA5CC1E170'
