//! Edge cases on small images built inside the tests: layer semantics (whiteouts, opaque
//! directories, replacement, links), config quirks, and each check's must-fire and
//! must-not-fire cases that the real images do not cover.

mod common;

use common::*;
use serde_json::json;

fn audit(builder: &ImageBuilder) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = builder.write_oci(dir.path());
    audit_json(&path)
}

const DEBIAN_OS_RELEASE: &str =
    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";
const ELF_STUB: &[u8] = b"\x7fELF not really";

fn debian_base() -> Layer {
    layer(
        "ADD rootfs.tar /",
        vec![
            dir("etc"),
            file("usr/lib/os-release", DEBIAN_OS_RELEASE),
            symlink("etc/os-release", "../usr/lib/os-release"),
            file(
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/bash\napp:x:10001:10001::/app:/usr/sbin/nologin\n",
            ),
            file("etc/group", "root:x:0:\napp:x:10001:\n"),
            executable("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", ELF_STUB),
        ],
    )
}

#[test]
fn secret_deleted_later_is_reported_with_both_layers() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app"}))
            .layer(debian_base())
            .layer(layer(
                "COPY .npmrc /root/.npmrc",
                vec![file(
                    "root/.npmrc",
                    "//registry.npmjs.org/:_authToken=npm_Zq8Xw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7\n",
                )],
            ))
            .layer(layer(
                "RUN rm /root/.npmrc",
                vec![file("root/.wh..npmrc", "")],
            )),
    );
    let found = findings(&report, "secret-in-file");
    assert_eq!(found.len(), 1, "{found:?}");
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("added in layer 1"), "{message}");
    assert!(message.contains("deleted in layer 2"), "{message}");
    assert_eq!(found[0]["location"]["layer"]["index"], 1);
    assert_eq!(found[0]["location"]["path"], "/root/.npmrc");
}

#[test]
fn opaque_marker_hides_lower_files_whatever_its_tar_position() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app"}))
            .layer(debian_base())
            .layer(layer(
                "COPY secrets /app/conf",
                vec![file(
                    "app/conf/.env",
                    "DATABASE_PASSWORD=hunter2-prod-Xy9\n",
                )],
            ))
            // The opaque marker comes after the new file in tar order.
            .layer(layer(
                "RUN rebuild conf",
                vec![
                    file("app/conf/app.ini", "port=3000\n"),
                    file("app/conf/.wh..wh..opq", ""),
                ],
            )),
    );
    let found = findings(&report, "secret-in-file");
    assert_eq!(found.len(), 1);
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("deleted in layer 2"), "{message}");
}

#[test]
fn overwritten_secret_is_reported_as_overwritten() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app"}))
            .layer(debian_base())
            .layer(layer(
                "COPY .env",
                vec![file("app/.env", "API_KEY=Zx8Qw7Er6Ty5Ui4Op3\n")],
            ))
            .layer(layer(
                "COPY .env.clean",
                vec![file("app/.env", "PORT=3000\n")],
            )),
    );
    let found = findings(&report, "secret-in-file");
    assert_eq!(found.len(), 1);
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("overwritten in layer 2")
    );
}

#[test]
fn file_replacing_directory_drops_its_shells() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app"}))
            .layer(debian_base())
            .layer(layer(
                "ADD tools",
                vec![dir("opt/tools"), executable("opt/tools/bash", ELF_STUB)],
            ))
            .layer(layer(
                "RUN replace",
                vec![file("opt/tools", "not a directory any more\n")],
            )),
    );
    assert_eq!(status(&report, "shell-present"), "pass");
}

#[test]
fn shell_found_through_merged_usr_symlink() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app", "Cmd": ["node", "server.js"]}))
            .layer(debian_base())
            .layer(layer(
                "ADD shells",
                vec![
                    symlink("bin", "usr/bin"),
                    executable("usr/bin/dash", ELF_STUB),
                    symlink("usr/bin/sh", "dash"),
                    file("usr/share/menu/bash", "menu entry, not a shell\n"),
                ],
            )),
    );
    let found = findings(&report, "shell-present");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["location"]["path"], "/usr/bin/dash");
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("/usr/bin/sh"), "{message}");
    assert!(!message.contains("needs it"), "{message}");
}

#[test]
fn busybox_hardlinks_count_as_applets() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app"}))
            .layer(debian_base())
            .layer(layer(
                "ADD busybox",
                vec![
                    executable("bin/busybox", ELF_STUB),
                    hardlink("bin/sh", "bin/busybox"),
                    hardlink("bin/ls", "bin/busybox"),
                    hardlink("bin/cat", "bin/busybox"),
                ],
            )),
    );
    let found = findings(&report, "shell-present");
    assert_eq!(found.len(), 1, "{found:?}");
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("/bin/sh"), "{message}");
    assert!(message.contains("3 busybox applet links"), "{message}");
}

#[test]
fn entrypoint_script_with_shell_shebang_needs_shell() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app", "Entrypoint": ["docker-entrypoint.sh"], "Env": ["PATH=/usr/local/bin:/usr/bin"]}))
            .layer(debian_base())
            .layer(layer(
                "COPY entrypoint",
                vec![
                    executable("usr/bin/dash", ELF_STUB),
                    symlink("usr/bin/sh", "dash"),
                    executable("usr/local/bin/docker-entrypoint.sh", b"#!/bin/sh\nset -e\nexec \"$@\"\n"),
                ],
            )),
    );
    let found = findings(&report, "shell-present");
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains("docker-entrypoint.sh is a script for `/bin/sh`"),
        "{message}"
    );
}

#[test]
fn root_via_passwd_alias_fires() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "toor"}))
            .layer(layer(
                "ADD rootfs",
                vec![file(
                    "etc/passwd",
                    "root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n",
                )],
            )),
    );
    let found = findings(&report, "root-user");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["severity"], "high");
}

#[test]
fn non_root_user_passes() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app"}))
            .layer(debian_base()),
    );
    assert_eq!(status(&report, "root-user"), "pass");
}

#[test]
fn malformed_passwd_degrades_with_note() {
    let report = audit(&ImageBuilder::new().config(json!({"User": "app"})).layer(layer(
        "ADD rootfs",
        vec![file("etc/passwd", "root:x:0:0::/root:/bin/sh\n+::::::\ngarbage\n\napp:x:10001:10001::/app:/bin/false\n")],
    )));
    assert_eq!(status(&report, "root-user"), "pass");
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "root-user")
        .unwrap();
    let notes = check["notes"].to_string();
    assert!(notes.contains("2 malformed lines"), "{notes}");
}

#[test]
fn null_config_fields_are_tolerated() {
    let report = audit(
        &ImageBuilder::new()
            .config(
                json!({"User": null, "Env": null, "Labels": null, "Cmd": null, "Entrypoint": null}),
            )
            .layer(debian_base()),
    );
    assert_eq!(findings(&report, "root-user").len(), 1);
    assert_eq!(status(&report, "secret-in-config"), "pass");
}

#[test]
fn config_secrets_fire_on_names_and_patterns() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({
                "User": "app",
                "Env": [
                    "DATABASE_PASSWORD=Pq7-wZ2x-Lm9v",
                    "AWS_SECRET_ACCESS_KEY=Zq3v8L+pXk2mN9rT5wY7bC1dF4gH6jK0lQ2sU8vW",
                    "REDIS_URL=redis://default:Vq9Lm2Xk7Pz4@cache:6379",
                    "KEYCLOAK_VERSION=24.0.1",
                    "YARN_GPG_KEY=7E72128327CEA306ADCD03577ED93CAA5CC1E170",
                    "PUBLIC_KEY_PATH=/etc/keys/pub.pem",
                    "NEXT_PUBLIC_API_URL=https://api.example.com",
                    "DB_PASSWORD=${DB_PASSWORD}",
                    "API_TOKEN=op://vault/item/field",
                ],
                "Labels": {"org.opencontainers.image.source": "https://github.com/acme/app", "deploy.api-key": "Xk9pL2vQ8mZ3rT7w"}
            }))
            .layer(debian_base())
            .empty_history("ENV A=1 SENTRY_AUTH_TOKEN=sntrys_Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0")
            .empty_history("RUN |2 NPM_TOKEN=npm_Zq8Xw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7 NODE_ENV=production /bin/sh -c npm ci # buildkit")
            .empty_history("RUN /bin/sh -c apk add libcrypto3=3.1.4-r1 # buildkit"),
    );
    let found = findings(&report, "secret-in-config");
    let messages: Vec<&str> = found
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    let has = |needle: &str| messages.iter().any(|m| m.contains(needle));
    assert!(has("config.Env DATABASE_PASSWORD"), "{messages:#?}");
    assert!(has("config.Env AWS_SECRET_ACCESS_KEY"), "{messages:#?}");
    assert!(has("config.Env REDIS_URL"), "{messages:#?}");
    assert!(has("config.Labels deploy.api-key"), "{messages:#?}");
    assert!(has("SENTRY_AUTH_TOKEN"), "{messages:#?}");
    assert!(has("NPM_TOKEN"), "{messages:#?}");
    for quiet in [
        "KEYCLOAK",
        "YARN_GPG",
        "PUBLIC_KEY_PATH",
        "NEXT_PUBLIC",
        "DB_PASSWORD ",
        "API_TOKEN",
        "libcrypto",
        "image.source",
    ] {
        assert!(!has(quiet), "{quiet} fired: {messages:#?}");
    }
    assert_eq!(found.len(), 6, "{messages:#?}");
    let serialized = report.to_string();
    assert!(
        !serialized.contains("Pq7-wZ2x-Lm9v"),
        "a secret value leaked into the report"
    );
    assert!(
        !serialized.contains("Vq9Lm2Xk7Pz4"),
        "a secret value leaked into the report"
    );
}

#[test]
fn env_value_also_in_history_is_reported_once() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app", "Env": ["DB_PASSWORD=Pq7-wZ2x-Lm9v"]}))
            .layer(debian_base())
            .empty_history("ENV DB_PASSWORD=Pq7-wZ2x-Lm9v"),
    );
    let found = findings(&report, "secret-in-config");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["location"]["config_field"], "config.Env");
}

#[test]
fn musl_detected_from_loader_and_alpine_release() {
    let report = audit(&ImageBuilder::new().config(json!({"User": "app"})).layer(layer(
        "ADD alpine-minirootfs.tar.gz /",
        vec![
            file("etc/os-release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n"),
            file("etc/alpine-release", "3.20.3\n"),
            executable("lib/ld-musl-x86_64.so.1", ELF_STUB),
            file("etc/passwd", "root:x:0:0::/root:/bin/ash\napp:x:10001:10001::/app:/sbin/nologin\n"),
        ],
    )));
    let found = findings(&report, "alpine-musl-base");
    assert_eq!(found.len(), 1);
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("Alpine Linux v3.20"), "{message}");
    assert!(message.contains("ld-musl-x86_64.so.1"), "{message}");
    assert_eq!(report["image"]["base_os"], "Alpine Linux v3.20");
}

#[test]
fn wolfi_with_apk_and_glibc_is_not_musl() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app"}))
            .layer(layer(
                "apko",
                vec![
                    file(
                        "etc/os-release",
                        "ID=wolfi\nNAME=\"Wolfi\"\nPRETTY_NAME=\"Wolfi\"\nVERSION_ID=20230201\n",
                    ),
                    file(
                        "lib/apk/db/installed",
                        "P:glibc\nV:2.40-r1\n\nP:nodejs-22\nV:22.11.0-r0\n",
                    ),
                    executable("lib/ld-linux-x86-64.so.2", ELF_STUB),
                    file(
                        "etc/passwd",
                        "root:x:0:0::/root:/bin/sh\napp:x:10001:10001::/app:/sbin/nologin\n",
                    ),
                ],
            )),
    );
    assert_eq!(status(&report, "alpine-musl-base"), "pass");
    assert_eq!(report["image"]["base_os"], "Wolfi");
}

#[test]
fn node_versions_from_dpkg_and_header() {
    let status_file = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n\nPackage: nodejs\nStatus: install ok installed\nVersion: 18.19.0+dfsg-6~deb12u2\n";
    let header = "#define NODE_MAJOR_VERSION 22\n#define NODE_MINOR_VERSION 12\n#define NODE_PATCH_VERSION 0\n";
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app"}))
            .layer(debian_base())
            .layer(layer(
                "RUN apt-get install nodejs",
                vec![
                    file("var/lib/dpkg/status", status_file),
                    file("opt/node/include/node/node_version.h", header),
                ],
            )),
    );
    let found = findings(&report, "node-eol");
    let messages: Vec<&str> = found
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("18.19.0") && m.contains("end of life")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("22.12.0") && m.contains("maintenance")),
        "{messages:#?}"
    );
}

#[test]
fn node_active_lts_passes() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app", "Env": ["NODE_VERSION=26.1.0"]}))
            .layer(debian_base()),
    );
    assert_eq!(status(&report, "node-eol"), "pass");
}

#[test]
fn node_absent_is_not_applicable() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app"}))
            .layer(debian_base()),
    );
    assert_eq!(status(&report, "node-eol"), "not-applicable");
}

#[test]
fn zstd_and_uncompressed_layers_read_alike() {
    let build = |compression| {
        ImageBuilder::new()
            .config(json!({"User": "app"}))
            .layer(debian_base())
            .layer(layer(
                "COPY .env",
                vec![file(
                    "app/.env",
                    "STRIPE_SECRET_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc9Xq\n",
                )],
            ))
            .compression(compression)
    };
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let report = audit(&build(compression));
        let found = findings(&report, "secret-in-file");
        assert_eq!(found.len(), 1, "{compression:?}");
        assert_eq!(found[0]["evidence"]["rule"], "stripe-live-key");
    }
}

#[test]
fn docker_archive_and_oci_agree() {
    let builder = ImageBuilder::new()
        .config(json!({"User": "0:0"}))
        .layer(debian_base())
        .layer(layer(
            "COPY .env",
            vec![file(
                "app/.env",
                "GITHUB_TOKEN=ghp_Q9x8W7v6U5t4S3r2Q1p0O9n8M7l6K5j4I3h2\n",
            )],
        ));
    let dir = tempfile::tempdir().unwrap();
    let oci = audit_json(&builder.write_oci(dir.path()));
    let docker = audit_json(&builder.write_docker_archive(dir.path()));
    // Layer digests differ by design: OCI names the compressed blob, a classic archive the
    // uncompressed diff_id. Everything else must match.
    let strip = |report: &serde_json::Value| {
        let mut findings = report["findings"].clone();
        for finding in findings.as_array_mut().unwrap() {
            if let Some(layer) = finding["location"].get_mut("layer") {
                layer.as_object_mut().unwrap().remove("digest");
            }
        }
        findings
    };
    assert_eq!(strip(&oci), strip(&docker));
    assert_eq!(
        oci["image"]["config_digest"],
        docker["image"]["config_digest"]
    );
    assert_eq!(docker["image"]["format"], "docker-archive");
    assert_eq!(docker["image"]["reference"], "synthetic:latest");
}

#[test]
fn empty_scratch_image_scores_without_layers() {
    let report = audit(&ImageBuilder::new().config(json!({"User": "65532:65532"})));
    assert_eq!(report["score"], 100);
    assert_eq!(report["grade"], "A");
    assert_eq!(report["image"]["layer_count"], 0);
}

#[test]
fn short_history_disables_attribution() {
    let builder = ImageBuilder::new()
        .config(json!({"User": "app"}))
        .layer(debian_base())
        .layer(layer(
            "COPY .env",
            vec![file("app/.env", "API_KEY=Zx8Qw7Er6Ty5Ui4Op3\n")],
        ))
        .history(json!([{"created_by": "ADD rootfs.tar /"}]));
    let report = audit(&builder);
    let found = findings(&report, "secret-in-file");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["location"]["layer"]["index"], 1);
    assert!(
        found[0]["location"]["layer"].get("created_by").is_none(),
        "{}",
        found[0]
    );
}

#[test]
fn missing_history_is_tolerated() {
    let builder = ImageBuilder::new()
        .config(json!({"User": "app"}))
        .layer(debian_base())
        .history(serde_json::Value::Null);
    let report = audit(&builder);
    assert_eq!(status(&report, "root-user"), "pass");
}

#[test]
fn command_line_credentials_in_history_fire() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app"}))
            .layer(debian_base())
            .empty_history("RUN /bin/sh -c curl -u admin:Xk9pL2vQ8mZ3 -o /tmp/x https://artifacts.internal/x # buildkit")
            .empty_history("RUN /bin/sh -c docker login -u bot -p Zx8Qw7Er6Ty5 registry.internal # buildkit")
            .empty_history("RUN /bin/sh -c apt-get install -y curl=7.88.1-10 # buildkit"),
    );
    let found = findings(&report, "secret-in-config");
    assert_eq!(found.len(), 2, "{found:#?}");
    let text = report.to_string();
    assert!(
        !text.contains("Xk9pL2vQ8mZ3"),
        "a password leaked into the report"
    );
    assert!(
        !text.contains("Zx8Qw7Er6Ty5"),
        "a password leaked into the report"
    );
}

#[test]
fn shell_hardlink_to_deleted_path_is_named_by_its_own_path() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "app"}))
            .layer(debian_base())
            .layer(layer(
                "ADD shells",
                vec![
                    executable("bin/bash", ELF_STUB),
                    hardlink("bin/sh", "bin/bash"),
                ],
            ))
            .layer(layer("RUN rm /bin/bash", vec![file("bin/.wh.bash", "")])),
    );
    let found = findings(&report, "shell-present");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["location"]["path"], "/bin/sh");
    assert!(!found[0]["message"].as_str().unwrap().contains("/bin/bash"));
}

#[test]
fn passwd_symlink_is_followed_for_root_alias() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "rooty"}))
            .layer(layer(
                "ADD rootfs",
                vec![
                    file(
                        "usr/lib/passwd",
                        "root:x:0:0::/root:/bin/sh\nrooty:x:0:0::/root:/bin/sh\n",
                    ),
                    symlink("etc/passwd", "../usr/lib/passwd"),
                ],
            )),
    );
    let found = findings(&report, "root-user");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["severity"], "high", "{found:#?}");
}

#[test]
fn unreadable_passwd_target_is_not_called_missing_user() {
    let report = audit(
        &ImageBuilder::new()
            .config(json!({"User": "rooty"}))
            .layer(layer(
                "ADD rootfs",
                vec![
                    file(
                        "l0",
                        "root:x:0:0::/root:/bin/sh\nrooty:x:0:0::/root:/bin/sh\n",
                    ),
                    symlink("etc/passwd", "/l0"),
                ],
            )),
    );
    let found = findings(&report, "root-user");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["severity"], "medium", "{found:#?}");
    assert!(found[0]["message"].as_str().unwrap().contains("/l0"));
}
