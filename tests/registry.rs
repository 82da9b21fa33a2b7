//! Pull-and-scan against a real registry: each test starts Debian's `docker-registry` (the
//! CNCF distribution registry 2.8) on 127.0.0.1, pushes images with `skopeo`, and runs
//! imgaudit on the registry reference with `--format json --now 2026-12-04`. Authentication
//! tests add TLS with a throwaway CA, htpasswd users, or a token issuer run by the test. Fault
//! tests put a scriptable proxy between imgaudit and the registry.
//!
//! Needs `docker-registry`, `skopeo`, `openssl` and `htpasswd` (apache2-utils) on PATH, which
//! `tests/run.sh` installs, and the real images from `bash tests/images/build.sh`.

mod common;
mod registry_support;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{ImageBuilder, file, layer, write_index};
use serde_json::{Value, json};

use registry_support::pki::{self, Tls};
use registry_support::server::{Action, TestServer};
use registry_support::token::{self, Accounts, TokenIssuer};
use registry_support::{Auth, Registry, Run, finding_keys, imgaudit, push, real_layout};

const NPM_TOKEN: &str = "npm_Zq8Xw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7";
const GITHUB_TOKEN: &str = "ghp_Q9x8W7v6U5t4S3r2Q1p0O9n8M7l6K5j4I3h2";

const USERNAME: &str = "auditor";
const PASSWORD: &str = "pw-Registry-7f3a9c21e5";
const WRONG_PASSWORD: &str = "pw-Wrong-0b8d4e6f13";
const REFRESH_TOKEN: &str = "refresh-5d1c9a7e3b2f4068";

/// Size of the incompressible file in the large test image: big enough that a cut halfway
/// through its layer leaves a real offset to resume from.
const NOISE_BYTES: usize = 2 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Test images

/// Builds a small image with findings in several checks: root user, a shell, and a secret in
/// a file.
fn app_image(architecture: &str, secret_line: &str) -> ImageBuilder {
    ImageBuilder::new()
        .architecture(architecture)
        .config(json!({"User": "root", "Entrypoint": ["/bin/sh"]}))
        .layer(layer(
            "COPY rootfs /",
            vec![
                file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                common::executable("bin/sh", b"#!shell binary stand-in\n"),
            ],
        ))
        .layer(layer(
            "COPY . /app",
            vec![file("app/.env", &format!("{secret_line}\n"))],
        ))
}

/// Builds [`app_image`] with one more layer of [`NOISE_BYTES`] of incompressible data.
fn large_app_image() -> ImageBuilder {
    app_image("amd64", &format!("NPM_TOKEN={NPM_TOKEN}")).layer(layer(
        "COPY data /data",
        vec![common::Entry::File {
            path: "data/noise.bin".into(),
            content: noise(NOISE_BYTES),
            mode: 0o644,
        }],
    ))
}

/// Returns `length` bytes from a xorshift generator: deterministic and incompressible.
fn noise(length: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Writes `image` as an OCI layout at `dir` tagged `app` and returns the skopeo source.
fn write_layout(image: &ImageBuilder, dir: &Path) -> String {
    let mut descriptor = image.add_to_layout(dir);
    descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": "app"});
    write_index(dir, vec![descriptor]);
    format!("oci:{}:app", dir.display())
}

/// Returns the digests of the layers of the single image in the layout at `dir`.
fn layout_layer_digests(dir: &Path) -> Vec<String> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(blob_file(dir, manifest_digest)).unwrap()).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["digest"].as_str().unwrap().to_owned())
        .collect()
}

fn blob_file(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A test's temporary directory, with an empty HOME for imgaudit inside it.
struct Workspace {
    temp: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        Workspace {
            temp: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.temp.path().join(name)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// Runs imgaudit with `args` and the extra environment `env`.
    fn audit<S: AsRef<OsStr>>(&self, args: &[S], env: &[(&str, &OsStr)]) -> Run {
        imgaudit(&self.home(), args, env)
    }

    /// Starts an anonymous plain-HTTP registry.
    fn registry(&self) -> Registry {
        Registry::start(&self.path("registry"), None, Auth::Anonymous)
    }
}

/// A TLS registry with htpasswd authentication holding `team/app:1`. Fields drop in order, so
/// the registry stops before its directory is removed.
struct BasicAuthRegistry {
    registry: Registry,
    tls: Tls,
    workspace: Workspace,
}

impl BasicAuthRegistry {
    fn start() -> BasicAuthRegistry {
        let workspace = Workspace::new();
        let tls = pki::make_tls(&workspace.path("tls"));
        let htpasswd = workspace.path("htpasswd");
        registry_support::write_htpasswd(&htpasswd, USERNAME, PASSWORD);
        let registry = Registry::start(
            &workspace.path("registry"),
            Some(&tls),
            Auth::Htpasswd(htpasswd),
        );
        let source = write_layout(
            &app_image("amd64", &format!("NPM_TOKEN={NPM_TOKEN}")),
            &workspace.path("app.oci"),
        );
        push(
            &source,
            &format!("{}/team/app:1", registry.host()),
            &["--dest-creds", &format!("{USERNAME}:{PASSWORD}")],
        );
        BasicAuthRegistry {
            registry,
            tls,
            workspace,
        }
    }

    fn reference(&self) -> String {
        format!("{}/team/app:1", self.registry.host())
    }

    /// Runs imgaudit on `team/app:1` with `--ca-file`, `extra` arguments and `env`.
    fn audit(&self, extra: &[&str], env: &[(&str, &OsStr)]) -> Run {
        let mut args: Vec<String> =
            vec!["--ca-file".into(), self.tls.ca_cert.display().to_string()];
        args.extend(extra.iter().map(|arg| arg.to_string()));
        args.push(self.reference());
        self.workspace.audit(&args, env)
    }

    /// Writes a Docker config directory holding `config` and returns it.
    fn docker_config(&self, config: &Value) -> PathBuf {
        let dir = self.workspace.path("docker-config");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        dir
    }
}

/// A registry behind a token issuer, holding `team/app:1`.
struct TokenRegistry {
    registry: Registry,
    issuer: TokenIssuer,
    workspace: Workspace,
}

impl TokenRegistry {
    fn start() -> TokenRegistry {
        let workspace = Workspace::new();
        let key = pki::make_signing_key(&workspace.path("token-key"));
        let root_cert_bundle = key.cert.clone();
        let issuer = TokenIssuer::start(
            key,
            Accounts {
                username: USERNAME.into(),
                password: PASSWORD.into(),
                refresh_token: REFRESH_TOKEN.into(),
            },
        );
        let registry = Registry::start(
            &workspace.path("registry"),
            None,
            Auth::Token {
                realm: issuer.realm(),
                service: token::SERVICE.into(),
                issuer: token::ISSUER.into(),
                root_cert_bundle,
            },
        );
        let source = write_layout(
            &app_image("amd64", &format!("NPM_TOKEN={NPM_TOKEN}")),
            &workspace.path("app.oci"),
        );
        push(
            &source,
            &format!("{}/team/app:1", registry.host()),
            &["--dest-creds", &format!("{USERNAME}:{PASSWORD}")],
        );
        TokenRegistry {
            registry,
            issuer,
            workspace,
        }
    }

    fn reference(&self) -> String {
        format!("{}/team/app:1", self.registry.host())
    }

    /// Returns the token requests that imgaudit (not skopeo) sent.
    fn imgaudit_token_requests(&self) -> Vec<registry_support::http::Request> {
        self.issuer
            .requests()
            .into_iter()
            .filter(|request| {
                request
                    .header("user-agent")
                    .is_some_and(|agent| agent.starts_with("imgaudit/"))
            })
            .collect()
    }
}

/// A plain registry holding [`large_app_image`] as `team/app:1`, and the same image as a
/// local OCI layout.
struct LargeImage {
    registry: Registry,
    layout: PathBuf,
    /// Digest of the layer with the incompressible file, the largest blob.
    noise_layer: String,
    workspace: Workspace,
}

impl LargeImage {
    fn push() -> LargeImage {
        let workspace = Workspace::new();
        let registry = workspace.registry();
        let layout = workspace.path("app.oci");
        let source = write_layout(&large_app_image(), &layout);
        push(&source, &format!("{}/team/app:1", registry.host()), &[]);
        let noise_layer = layout_layer_digests(&layout)[2].clone();
        LargeImage {
            registry,
            layout,
            noise_layer,
            workspace,
        }
    }

    /// Finding keys of the local layout, the expected result of every registry audit.
    fn expected_findings(&self) -> Vec<String> {
        let report = self.workspace.audit(&[&self.layout], &[]).report();
        let keys = finding_keys(&report);
        assert!(!keys.is_empty(), "the test image has findings");
        keys
    }

    /// Starts a proxy in front of the registry that handles each request with the action
    /// that `plan` returns.
    fn proxy(
        &self,
        plan: impl FnMut(&registry_support::http::Request) -> Action + Send + 'static,
    ) -> TestServer {
        TestServer::start(Some(self.registry.address()), plan)
    }
}

fn os(text: &str) -> &OsStr {
    OsStr::new(text)
}

/// Asserts that an imgaudit run failed with exit code 2 and wrote no report.
fn assert_failed(run: &Run) {
    assert_eq!(run.code, Some(2), "stderr:\n{}", run.stderr);
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
}

/// Asserts that no form of `secret` appears in `stderr`: as is, or base64-encoded with the
/// username (a basic `Authorization` header).
fn assert_no_secret(stderr: &str, secret: &str) {
    assert!(!stderr.contains(secret), "stderr shows a secret:\n{stderr}");
    let basic = STANDARD.encode(format!("{USERNAME}:{secret}"));
    assert!(
        !stderr.contains(&basic),
        "stderr shows basic credentials:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Pulling by tag and digest

#[test]
fn tag_and_digest_match_saved_archive() {
    let workspace = Workspace::new();
    let registry = workspace.registry();
    push(
        &real_layout("node20-root", "oci"),
        &format!("{}/team/node:20", registry.host()),
        &[],
    );
    let digest = registry.manifest_digest("team/node", "20");
    let by_tag = format!("{}/team/node:20", registry.host());
    let by_digest = format!("{}/team/node@{digest}", registry.host());
    let archive = registry_support::real_image_path("node20-root", "oci.tar");

    let (tag_run, digest_run, archive_run) = std::thread::scope(|scope| {
        let tag_run = scope.spawn(|| workspace.audit(&[&by_tag], &[]));
        let digest_run = scope.spawn(|| workspace.audit(&[&by_digest], &[]));
        let archive_run = workspace.audit(&[&archive], &[]);
        (
            tag_run.join().unwrap(),
            digest_run.join().unwrap(),
            archive_run,
        )
    });
    let from_tag = tag_run.report();
    let from_digest = digest_run.report();
    let from_archive = archive_run.report();

    assert_eq!(from_tag["image"]["format"], "registry");
    assert_eq!(from_tag["image"]["reference"], by_tag.as_str());
    assert_eq!(from_digest["image"]["reference"], by_digest.as_str());
    for report in [&from_tag, &from_digest, &from_archive] {
        assert_eq!(report["image"]["manifest_digest"], digest.as_str());
        assert_eq!(
            report["image"]["config_digest"],
            from_archive["image"]["config_digest"]
        );
        assert_eq!(
            report["image"]["size_bytes"],
            from_archive["image"]["size_bytes"]
        );
    }
    let expected = finding_keys(&from_archive);
    assert!(expected.len() > 3, "node20-root has findings: {expected:?}");
    assert_eq!(finding_keys(&from_tag), expected);
    assert_eq!(finding_keys(&from_digest), expected);
    assert_eq!(from_tag["score"], from_archive["score"]);
}

// ---------------------------------------------------------------------------------------------
// Multi-platform indexes

/// Pushes an index with linux/amd64 (an npm token) and linux/arm64/v8 (a GitHub token) with
/// `skopeo copy --all` and returns its reference.
fn push_multi_platform(workspace: &Workspace, registry: &Registry) -> String {
    let dir = workspace.path("multi.oci");

    let amd64 = app_image("amd64", &format!("NPM_TOKEN={NPM_TOKEN}"));
    let arm64 = app_image("arm64", &format!("GITHUB_TOKEN={GITHUB_TOKEN}"));
    let mut amd64_descriptor = amd64.add_to_layout(&dir);
    amd64_descriptor["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let mut arm64_descriptor = arm64.add_to_layout(&dir);
    arm64_descriptor["platform"] = json!({"os": "linux", "architecture": "arm64", "variant": "v8"});

    // skopeo's `oci:DIR:TAG` finds the image by the ref name on an index.json entry, so the
    // two platforms go into a nested index that carries the tag.
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd64_descriptor, arm64_descriptor],
    }))
    .unwrap();
    let index_digest = common::write_blob(&dir.join("blobs/sha256"), &index);
    write_index(
        &dir,
        vec![json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": index_digest,
            "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        })],
    );

    let reference = format!("{}/team/multi:1", registry.host());
    push(
        &format!("oci:{}:multi", dir.display()),
        &reference,
        &["--all"],
    );
    reference
}

fn secret_rules(report: &Value) -> Vec<String> {
    common::findings(report, "secret-in-file")
        .iter()
        .map(|finding| finding["evidence"]["rule"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn multi_platform_index_selects_platform() {
    let workspace = Workspace::new();
    let registry = workspace.registry();
    let reference = push_multi_platform(&workspace, &registry);
    let index = registry.manifest("team/multi", "1");
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");

    // NOTE: the default is the host's platform; this expects an amd64 or arm64 host.
    let (host, host_rule, other, other_rule) = if cfg!(target_arch = "aarch64") {
        ("linux/arm64", "github-token", "linux/amd64", "npm-token")
    } else {
        ("linux/amd64", "npm-token", "linux/arm64", "github-token")
    };
    let default = workspace.audit(&[&reference], &[]).report();
    assert_eq!(default["image"]["platform"], host);
    assert_eq!(secret_rules(&default), vec![host_rule]);
    let warnings = default["warnings"].to_string();
    assert!(warnings.contains("2 platforms"), "{warnings}");
    assert!(warnings.contains("--platform"), "{warnings}");

    let chosen = workspace
        .audit(&["--platform", other, &reference], &[])
        .report();
    assert!(
        chosen["image"]["platform"]
            .as_str()
            .unwrap()
            .starts_with(other),
        "{}",
        chosen["image"]
    );
    assert_eq!(secret_rules(&chosen), vec![other_rule]);
    assert_ne!(
        chosen["image"]["manifest_digest"],
        default["image"]["manifest_digest"]
    );

    let unknown = workspace.audit(&["--platform", "linux/s390x", &reference], &[]);
    assert_failed(&unknown);
    assert!(unknown.stderr.contains("linux/s390x"), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("linux/amd64"), "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("linux/arm64/v8"),
        "{}",
        unknown.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// zstd layers

#[test]
fn zstd_layers_pushed_by_skopeo() {
    let workspace = Workspace::new();
    let registry = workspace.registry();
    let layout = workspace.path("app.oci");
    let source = write_layout(&large_app_image(), &layout);
    push(
        &source,
        &format!("{}/team/app:zstd", registry.host()),
        &["--dest-compress-format", "zstd"],
    );
    let manifest = registry.manifest("team/app", "zstd");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    for layer in layers {
        assert_eq!(
            layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd",
            "{manifest}"
        );
    }
    let zstd_bytes: u64 = layers.iter().map(|l| l["size"].as_u64().unwrap()).sum();

    let from_registry = workspace
        .audit(&[format!("{}/team/app:zstd", registry.host())], &[])
        .report();
    let from_layout = workspace.audit(&[&layout], &[]).report();
    assert_eq!(from_registry["image"]["size_bytes"], zstd_bytes);
    assert_eq!(
        from_registry["image"]["uncompressed_bytes"],
        from_layout["image"]["uncompressed_bytes"]
    );
    assert_eq!(finding_keys(&from_registry), finding_keys(&from_layout));
}

#[test]
fn zstd_real_image_matches_layout() {
    let workspace = Workspace::new();
    let registry = workspace.registry();
    let layout = registry_support::real_image_path("node24-distroless", "zstd.oci");
    push(
        &real_layout("node24-distroless", "zstd.oci"),
        &format!("{}/team/node:24-zstd", registry.host()),
        &[],
    );
    let reference = format!("{}/team/node:24-zstd", registry.host());
    let manifest = registry.manifest("team/node", "24-zstd");
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd",
            "{manifest}"
        );
    }

    let (registry_run, layout_run) = std::thread::scope(|scope| {
        let registry_run = scope.spawn(|| workspace.audit(&[&reference], &[]));
        let layout_run = workspace.audit(&[&layout], &[]);
        (registry_run.join().unwrap(), layout_run)
    });
    let from_registry = registry_run.report();
    let from_layout = layout_run.report();
    assert_eq!(
        from_registry["image"]["manifest_digest"],
        from_layout["image"]["manifest_digest"]
    );
    let expected = finding_keys(&from_layout);
    assert!(!expected.is_empty(), "node24-distroless has findings");
    assert_eq!(finding_keys(&from_registry), expected);
}

// ---------------------------------------------------------------------------------------------
// Missing images

#[test]
fn missing_tag_is_not_found() {
    let workspace = Workspace::new();
    let registry = workspace.registry();
    let source = write_layout(&app_image("amd64", "PORT=3000"), &workspace.path("app.oci"));
    push(&source, &format!("{}/team/app:1", registry.host()), &[]);
    let reference = format!("{}/team/app:no-such-tag", registry.host());

    let run = workspace.audit(&[&reference], &[]);
    assert_failed(&run);
    assert!(run.stderr.contains(&reference), "{}", run.stderr);
    assert!(run.stderr.contains("404"), "{}", run.stderr);
    assert!(run.stderr.contains("MANIFEST_UNKNOWN"), "{}", run.stderr);
    assert!(
        run.stderr.contains("check the repository name and tag"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_repository_is_not_found() {
    let workspace = Workspace::new();
    let registry = workspace.registry();
    let reference = format!("{}/team/no-such-repo:1", registry.host());

    let run = workspace.audit(&[&reference], &[]);
    assert_failed(&run);
    assert!(run.stderr.contains(&reference), "{}", run.stderr);
    assert!(run.stderr.contains("404"), "{}", run.stderr);
    assert!(
        run.stderr.contains("check the repository name"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Size limit

#[test]
fn max_image_size_rejects_before_layers() {
    let image = LargeImage::push();
    let proxy = image.proxy(|_| Action::Forward);
    let reference = format!("{}/team/app:1", proxy.host());

    let run = image
        .workspace
        .audit(&["--max-image-size", "1KiB", &reference], &[]);
    assert_failed(&run);
    assert!(run.stderr.contains("--max-image-size"), "{}", run.stderr);
    assert!(
        run.stderr.contains("no layer was downloaded"),
        "{}",
        run.stderr
    );

    let requests = proxy.requests();
    assert!(
        requests.iter().any(|r| r.path().contains("/manifests/")),
        "the manifest was fetched through the proxy"
    );
    for digest in layout_layer_digests(&image.layout) {
        assert!(
            !requests.iter().any(|r| r.path().ends_with(&digest)),
            "layer {digest} was requested despite --max-image-size"
        );
    }
}

#[test]
fn cache_dir_skips_layer_downloads() {
    let image = LargeImage::push();
    let proxy = image.proxy(|_| Action::Forward);
    let reference = format!("{}/team/app:1", proxy.host());
    let cache = image.workspace.path("layer-cache");
    let cache_arg = cache.to_str().unwrap();

    let first = image
        .workspace
        .audit(&["--cache-dir", cache_arg, &reference], &[]);
    let second = image
        .workspace
        .audit(&["--cache-dir", cache_arg, &reference], &[]);
    assert_eq!(
        finding_keys(&first.report()),
        finding_keys(&second.report())
    );

    let digests = layout_layer_digests(&image.layout);
    let requests = proxy.requests();
    for digest in &digests {
        let fetched = requests
            .iter()
            .filter(|r| r.path().ends_with(digest.as_str()))
            .count();
        assert_eq!(
            fetched, 1,
            "layer {digest} fetched {fetched} times over two cached audits"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Basic authentication over TLS

#[test]
fn basic_auth_from_environment() {
    let fixture = BasicAuthRegistry::start();
    // -vvv logs at trace level, which includes every HTTP exchange.
    let run = fixture.audit(
        &["-vvv"],
        &[
            ("IMGAUDIT_USERNAME", os(USERNAME)),
            ("IMGAUDIT_PASSWORD", os(PASSWORD)),
        ],
    );
    let report = run.report();
    assert_eq!(report["image"]["format"], "registry");
    assert_eq!(common::findings(&report, "secret-in-file").len(), 1);
    assert!(run.stderr.contains("https://"), "{}", run.stderr);
    assert_no_secret(&run.stderr, PASSWORD);
}

#[test]
fn basic_auth_from_docker_config() {
    let fixture = BasicAuthRegistry::start();
    let auth = STANDARD.encode(format!("{USERNAME}:{PASSWORD}"));
    let config = fixture.docker_config(&json!({
        "auths": {fixture.registry.host(): {"auth": auth}},
    }));
    let run = fixture.audit(&["-vv"], &[("DOCKER_CONFIG", config.as_os_str())]);
    assert_eq!(common::findings(&run.report(), "secret-in-file").len(), 1);
    assert!(run.stderr.contains("Docker config"), "{}", run.stderr);
    assert_no_secret(&run.stderr, PASSWORD);
}

/// Installs `docker-credential-imgaudittest` in a `bin` directory of the workspace. The helper
/// appends its action and the server it was asked for to `helper-input.txt` and prints the
/// test credentials. Returns a PATH that starts with that directory, and the record file.
fn install_credential_helper(workspace: &Workspace) -> (std::ffi::OsString, PathBuf) {
    let bin = workspace.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = workspace.path("helper-input.txt");
    let helper = bin.join("docker-credential-imgaudittest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n\
             echo \"$1\" >> '{record}'\n\
             read -r server\n\
             echo \"$server\" >> '{record}'\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USERNAME}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n",
            record = record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    (path, record)
}

#[test]
fn basic_auth_from_credential_helper() {
    let fixture = BasicAuthRegistry::start();
    let (path, record) = install_credential_helper(&fixture.workspace);
    let host = fixture.registry.host();
    // credHelpers names a helper per registry; credsStore is the helper for all of them.
    let configs = [
        json!({"credHelpers": {host.as_str(): "imgaudittest"}}),
        json!({"credsStore": "imgaudittest"}),
    ];
    for config in configs {
        std::fs::write(&record, "").unwrap();
        let config_dir = fixture.docker_config(&config);
        let run = fixture.audit(
            &["-vv"],
            &[
                ("DOCKER_CONFIG", config_dir.as_os_str()),
                ("PATH", path.as_os_str()),
            ],
        );
        assert_eq!(
            common::findings(&run.report(), "secret-in-file").len(),
            1,
            "with {config}"
        );
        let input = std::fs::read_to_string(&record).unwrap();
        assert_eq!(
            input.lines().collect::<Vec<_>>(),
            vec!["get", host.as_str()],
            "with {config}"
        );
        assert_no_secret(&run.stderr, PASSWORD);
    }
}

#[test]
fn basic_auth_from_podman_auth_file() {
    let fixture = BasicAuthRegistry::start();
    let auth_file = fixture.workspace.path("auth.json");
    let auth = STANDARD.encode(format!("{USERNAME}:{PASSWORD}"));
    std::fs::write(
        &auth_file,
        json!({"auths": {fixture.registry.host(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let run = fixture.audit(&["-vv"], &[("REGISTRY_AUTH_FILE", auth_file.as_os_str())]);
    assert_eq!(common::findings(&run.report(), "secret-in-file").len(), 1);
    assert!(run.stderr.contains("podman auth file"), "{}", run.stderr);
    assert_no_secret(&run.stderr, PASSWORD);
}

#[test]
fn credential_sources_in_order() {
    let fixture = BasicAuthRegistry::start();
    let host = fixture.registry.host();
    let encode = |password: &str| STANDARD.encode(format!("{USERNAME}:{password}"));
    let podman_file = fixture.workspace.path("auth.json");
    std::fs::write(
        &podman_file,
        json!({"auths": {host.as_str(): {"auth": encode(WRONG_PASSWORD)}}}).to_string(),
    )
    .unwrap();

    // The Docker config comes before podman's auth file.
    let config_dir = fixture.docker_config(&json!({
        "auths": {host.as_str(): {"auth": encode(PASSWORD)}},
    }));
    let run = fixture.audit(
        &[],
        &[
            ("DOCKER_CONFIG", config_dir.as_os_str()),
            ("REGISTRY_AUTH_FILE", podman_file.as_os_str()),
        ],
    );
    assert_eq!(common::findings(&run.report(), "secret-in-file").len(), 1);

    // IMGAUDIT_USERNAME/IMGAUDIT_PASSWORD come before both.
    let config_dir = fixture.docker_config(&json!({
        "auths": {host.as_str(): {"auth": encode(WRONG_PASSWORD)}},
    }));
    let run = fixture.audit(
        &[],
        &[
            ("DOCKER_CONFIG", config_dir.as_os_str()),
            ("REGISTRY_AUTH_FILE", podman_file.as_os_str()),
            ("IMGAUDIT_USERNAME", os(USERNAME)),
            ("IMGAUDIT_PASSWORD", os(PASSWORD)),
        ],
    );
    assert_eq!(common::findings(&run.report(), "secret-in-file").len(), 1);
}

#[test]
fn basic_auth_wrong_password_is_401() {
    let fixture = BasicAuthRegistry::start();
    let run = fixture.audit(
        &["-vv"],
        &[
            ("IMGAUDIT_USERNAME", os(USERNAME)),
            ("IMGAUDIT_PASSWORD", os(WRONG_PASSWORD)),
        ],
    );
    assert_failed(&run);
    let message = run.stderr.lines().last().unwrap_or_default();
    assert!(message.contains(&fixture.reference()), "{message}");
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("check the credentials"), "{message}");
    assert!(message.contains("IMGAUDIT_USERNAME"), "{message}");
    assert_no_secret(&run.stderr, WRONG_PASSWORD);
}

#[test]
fn basic_auth_without_credentials_is_401() {
    let fixture = BasicAuthRegistry::start();
    let run = fixture.audit(&[], &[]);
    assert_failed(&run);
    let message = run.stderr.lines().last().unwrap_or_default();
    assert!(message.contains("401"), "{message}");
    assert!(
        message.contains("needs a username and password"),
        "{message}"
    );
    assert!(message.contains("check the credentials"), "{message}");
}

#[test]
fn tls_without_ca_file_fails_clearly() {
    let fixture = BasicAuthRegistry::start();
    let run = fixture.workspace.audit(
        &[fixture.reference()],
        &[
            ("IMGAUDIT_USERNAME", os(USERNAME)),
            ("IMGAUDIT_PASSWORD", os(PASSWORD)),
        ],
    );
    assert_failed(&run);
    let message = run.stderr.lines().last().unwrap_or_default();
    assert!(message.contains(&fixture.reference()), "{message}");
    assert!(message.contains("certificate"), "{message}");
    assert!(message.contains("--ca-file"), "{message}");
    assert_no_secret(&run.stderr, PASSWORD);
}

// ---------------------------------------------------------------------------------------------
// Bearer tokens

#[test]
fn bearer_token_anonymous_is_denied() {
    let fixture = TokenRegistry::start();
    let run = fixture.workspace.audit(&[fixture.reference()], &[]);
    assert_failed(&run);
    let message = run.stderr.lines().last().unwrap_or_default();
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("check the credentials"), "{message}");

    let requests = fixture.imgaudit_token_requests();
    assert!(
        !requests.is_empty(),
        "imgaudit asked the issuer for a token"
    );
    for request in &requests {
        assert_eq!(request.header("authorization"), None);
    }
}

#[test]
fn bearer_token_wrong_password_is_401() {
    let fixture = TokenRegistry::start();
    let run = fixture.workspace.audit(
        &[fixture.reference()],
        &[
            ("IMGAUDIT_USERNAME", os(USERNAME)),
            ("IMGAUDIT_PASSWORD", os(WRONG_PASSWORD)),
        ],
    );
    assert_failed(&run);
    let message = run.stderr.lines().last().unwrap_or_default();
    assert!(message.contains(&fixture.issuer.realm()), "{message}");
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("check the credentials"), "{message}");
    assert_no_secret(&run.stderr, WRONG_PASSWORD);
}

#[test]
fn bearer_token_with_credentials() {
    let fixture = TokenRegistry::start();
    let run = fixture.workspace.audit(
        &["-vv".to_owned(), fixture.reference()],
        &[
            ("IMGAUDIT_USERNAME", os(USERNAME)),
            ("IMGAUDIT_PASSWORD", os(PASSWORD)),
        ],
    );
    let report = run.report();
    assert_eq!(common::findings(&report, "secret-in-file").len(), 1);

    let requests = fixture.imgaudit_token_requests();
    assert_eq!(requests.len(), 1, "one token serves every request");
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    let query = request.query();
    assert!(
        query.contains(&("scope".into(), "repository:team/app:pull".into())),
        "{query:?}"
    );
    assert!(
        query.contains(&("service".into(), token::SERVICE.into())),
        "{query:?}"
    );
    assert_eq!(
        request.header("authorization"),
        Some(token::basic(USERNAME, PASSWORD).as_str())
    );

    assert_no_secret(&run.stderr, PASSWORD);
    for issued in fixture.issuer.issued_tokens() {
        let signature = issued.rsplit('.').next().unwrap();
        assert!(
            !run.stderr.contains(signature),
            "stderr shows a bearer token:\n{}",
            run.stderr
        );
    }
}

#[test]
fn bearer_token_from_identity_token() {
    let fixture = TokenRegistry::start();
    let config_dir = fixture.workspace.path("docker-config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.json"),
        json!({"auths": {fixture.registry.host(): {"identitytoken": REFRESH_TOKEN}}}).to_string(),
    )
    .unwrap();
    let run = fixture.workspace.audit(
        &["-vv".to_owned(), fixture.reference()],
        &[("DOCKER_CONFIG", config_dir.as_os_str())],
    );
    assert_eq!(common::findings(&run.report(), "secret-in-file").len(), 1);

    let requests = fixture.imgaudit_token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    let form = registry_support::http::decode_form(&String::from_utf8_lossy(&requests[0].body));
    assert!(
        form.contains(&("scope".into(), "repository:team/app:pull".into())),
        "{form:?}"
    );
    assert!(!run.stderr.contains(REFRESH_TOKEN), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Faults between imgaudit and the registry

#[test]
fn busy_registry_is_retried() {
    let image = LargeImage::push();
    let expected = image.expected_findings();
    let mut answered = 0;
    let proxy = image.proxy(move |_| {
        answered += 1;
        match answered {
            1 => Action::respond(503, &[("Retry-After", "0")], "busy"),
            2 => Action::respond(429, &[("Retry-After", "0")], "slow down"),
            _ => Action::Forward,
        }
    });
    let reference = format!("{}/team/app:1", proxy.host());

    let run = image.workspace.audit(&[&reference], &[]);
    assert_eq!(finding_keys(&run.report()), expected);
    assert!(run.stderr.contains("retrying"), "{}", run.stderr);
    assert!(run.stderr.contains("status=503"), "{}", run.stderr);
    assert!(run.stderr.contains("status=429"), "{}", run.stderr);
    assert!(run.stderr.contains("wait_ms=0"), "{}", run.stderr);
}

#[test]
fn busy_registry_without_retries_fails() {
    let image = LargeImage::push();
    let proxy = image.proxy(|request| {
        if request.path().contains("/manifests/") {
            Action::respond(503, &[("Retry-After", "0")], "busy")
        } else {
            Action::Forward
        }
    });
    let reference = format!("{}/team/app:1", proxy.host());

    let run = image.workspace.audit(&["--retries", "0", &reference], &[]);
    assert_failed(&run);
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
    let message = run.stderr.lines().last().unwrap_or_default();
    assert!(message.contains("503"), "{message}");
    let manifest_requests = proxy
        .requests()
        .iter()
        .filter(|r| r.path().contains("/manifests/"))
        .count();
    assert_eq!(manifest_requests, 1);
}

#[test]
fn stalled_registry_times_out() {
    let image = LargeImage::push();
    let proxy = image.proxy(|request| {
        if request.path().contains("/manifests/") {
            Action::Stall(Duration::from_secs(10))
        } else {
            Action::Forward
        }
    });
    let reference = format!("{}/team/app:1", proxy.host());

    let started = Instant::now();
    let run = image.workspace.audit(
        &["--registry-timeout", "1", "--retries", "1", &reference],
        &[],
    );
    let elapsed = started.elapsed();
    assert_failed(&run);
    let message = run.stderr.lines().last().unwrap_or_default();
    assert!(
        message.contains("timeout") || message.contains("timed out"),
        "{message}"
    );
    assert!(run.stderr.contains("retrying"), "{}", run.stderr);
    // Two attempts of 1 s and one backoff of 0.5 s, with room for a loaded machine.
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
}

#[test]
fn slow_steady_download_is_no_timeout() {
    let image = LargeImage::push();
    let expected = image.expected_findings();
    let noise_layer = image.noise_layer.clone();
    let proxy = image.proxy(move |request| {
        if request.path().ends_with(&noise_layer) {
            // 16 pieces, 200 ms apart: 3.2 s in all, but never 2 s without data.
            Action::ForwardThrottled(Duration::from_millis(200))
        } else {
            Action::Forward
        }
    });
    let reference = format!("{}/team/app:1", proxy.host());

    let run = image.workspace.audit(
        &["--registry-timeout", "2", "--retries", "0", &reference],
        &[],
    );
    assert_eq!(finding_keys(&run.report()), expected);
}

#[test]
fn dropped_blob_download_resumes() {
    let image = LargeImage::push();
    let expected = image.expected_findings();
    let noise_layer = image.noise_layer.clone();
    let mut cut = false;
    let proxy = image.proxy(move |request| {
        if !cut && request.path().ends_with(&noise_layer) {
            cut = true;
            return Action::ForwardTruncated;
        }
        Action::Forward
    });
    let reference = format!("{}/team/app:1", proxy.host());

    let run = image.workspace.audit(&[&reference], &[]);
    assert_eq!(finding_keys(&run.report()), expected);
    assert!(run.stderr.contains("resuming"), "{}", run.stderr);

    let blob_requests: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.path().ends_with(&image.noise_layer))
        .collect();
    assert_eq!(blob_requests.len(), 2, "one cut download and one resumed");
    assert_eq!(blob_requests[0].header("range"), None);
    let range = blob_requests[1]
        .header("range")
        .expect("the resume asks for a range");
    let offset: u64 = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("unexpected Range header {range:?}"));
    assert!(offset > 0, "the resume starts after the bytes already read");
}

#[test]
fn resume_without_range_support_skips_bytes() {
    let image = LargeImage::push();
    let expected = image.expected_findings();
    let noise_layer = image.noise_layer.clone();
    let mut cut = false;
    let proxy = image.proxy(move |request| {
        if !request.path().ends_with(&noise_layer) {
            return Action::Forward;
        }
        if !cut {
            cut = true;
            return Action::ForwardTruncated;
        }
        // The registry then returns 200 with the whole blob instead of 206.
        Action::ForwardWithoutRange
    });
    let reference = format!("{}/team/app:1", proxy.host());

    let run = image.workspace.audit(&[&reference], &[]);
    assert_eq!(finding_keys(&run.report()), expected);
    assert!(run.stderr.contains("resuming"), "{}", run.stderr);
    let blob_requests = proxy
        .requests()
        .iter()
        .filter(|r| r.path().ends_with(&image.noise_layer))
        .count();
    assert_eq!(blob_requests, 2);
}

#[test]
fn oversized_blob_is_rejected() {
    let image = LargeImage::push();
    let noise_layer = image.noise_layer.clone();
    let mut oversized = std::fs::read(blob_file(&image.layout, &noise_layer)).unwrap();
    oversized.extend(vec![0u8; 1024 * 1024]);
    let proxy = image.proxy(move |request| {
        if request.path().ends_with(&noise_layer) {
            Action::respond(200, &[], oversized.clone())
        } else {
            Action::Forward
        }
    });
    let reference = format!("{}/team/app:1", proxy.host());

    let run = image.workspace.audit(&[&reference], &[]);
    assert_failed(&run);
    let message = run.stderr.lines().last().unwrap_or_default();
    assert!(message.contains(&image.noise_layer), "{message}");
    assert!(message.contains("size"), "{message}");
}

#[test]
fn altered_manifest_is_rejected() {
    let image = LargeImage::push();
    let digest = image.registry.manifest_digest("team/app", "1");
    let proxy = image.proxy(|request| {
        if request.path().contains("/manifests/") {
            Action::ForwardCorrupted
        } else {
            Action::Forward
        }
    });
    let reference = format!("{}/team/app@{digest}", proxy.host());

    let run = image.workspace.audit(&[&reference], &[]);
    assert_failed(&run);
    let message = run.stderr.lines().last().unwrap_or_default();
    assert!(message.contains(&digest), "{message}");
    assert!(message.contains("not the requested"), "{message}");
}

#[test]
fn corrupted_blob_is_rejected() {
    let image = LargeImage::push();
    let noise_layer = image.noise_layer.clone();
    let proxy = image.proxy(move |request| {
        if request.path().ends_with(&noise_layer) {
            Action::ForwardCorrupted
        } else {
            Action::Forward
        }
    });
    let reference = format!("{}/team/app:1", proxy.host());

    let run = image.workspace.audit(&[&reference], &[]);
    assert_failed(&run);
    let message = run.stderr.lines().last().unwrap_or_default();
    assert!(message.contains(&image.noise_layer), "{message}");
    assert!(message.contains("layer"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Redirects

#[test]
fn redirect_to_other_host_drops_authorization() {
    let image = LargeImage::push();
    let expected = image.expected_findings();

    // The blob host serves the layout's blobs by digest and records every request.
    let layout = image.layout.clone();
    let blob_host = TestServer::start(None, move |request| {
        let digest = request.path().rsplit('/').next().unwrap_or_default();
        match std::fs::read(blob_file(&layout, digest)) {
            Ok(bytes) => Action::respond(200, &[], bytes),
            Err(_) => Action::respond(404, &[], ""),
        }
    });
    // The proxy demands basic credentials, so imgaudit has an Authorization header to leak,
    // and redirects the largest layer to the blob host.
    let expected_authorization = token::basic(USERNAME, PASSWORD);
    let noise_layer = image.noise_layer.clone();
    let blob_url = format!("http://{}/blobs/{noise_layer}", blob_host.host());
    let proxy = image.proxy(move |request| {
        if request.header("authorization") != Some(expected_authorization.as_str()) {
            return Action::respond(
                401,
                &[("WWW-Authenticate", "Basic realm=\"imgaudit-test\"")],
                "",
            );
        }
        if request.path().ends_with(&noise_layer) {
            return Action::respond(307, &[("Location", &blob_url)], "");
        }
        Action::Forward
    });
    let reference = format!("{}/team/app:1", proxy.host());

    let run = image.workspace.audit(
        &[&reference],
        &[
            ("IMGAUDIT_USERNAME", os(USERNAME)),
            ("IMGAUDIT_PASSWORD", os(PASSWORD)),
        ],
    );
    assert_eq!(finding_keys(&run.report()), expected);

    let redirected = proxy
        .requests()
        .into_iter()
        .filter(|r| r.path().ends_with(&image.noise_layer))
        .count();
    assert_eq!(redirected, 1, "the registry was asked for the layer once");
    let blob_requests = blob_host.requests();
    assert_eq!(blob_requests.len(), 1, "the layer came from the blob host");
    assert!(blob_requests[0].path().ends_with(&image.noise_layer));
    assert_eq!(
        blob_requests[0].header("authorization"),
        None,
        "credentials followed the redirect to another host"
    );
}
