//! Hostile and malformed inputs through the fuzzing entry points (`imgaudit::fuzzing`), which
//! take the same code paths as real images.
//!
//! Harness tests check that the fuzz targets still reach deep code. Regression tests replay
//! the exact inputs behind each bug that fuzzing found, inline or from
//! `tests/fuzz/regressions/`. docs/fuzzing.md explains how to run the fuzz targets.

use std::path::PathBuf;

use imgaudit::fuzzing::{self, LAYER_SEPARATOR, MAX_LAYERS};

/// Builds an uncompressed tar of regular files, as real layers are.
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *content).unwrap();
    }
    builder.into_inner().unwrap()
}

/// Reads an input that fuzzing or review found from `tests/fuzz/regressions/`.
fn regression(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/regressions")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("failed to read {}: {err}", path.display()))
}

#[test]
fn harness_accepts_empty_inputs() {
    assert!(fuzzing::archive(b"").is_err());
    assert!(fuzzing::json(b"").is_err());
    // A zero-byte layer reads as a tar stream without entries, as the tar crate reads it.
    assert_eq!(fuzzing::layers(b""), Ok(()));
    fuzzing::text_parsers(b"");
    fuzzing::secrets(b"");
}

#[test]
fn layers_harness_stacks_layers() {
    let lower = tar_of(&[("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")]);
    let upper = tar_of(&[("etc/.wh.passwd", b"")]);
    let input = [lower.as_slice(), upper.as_slice()].join(LAYER_SEPARATOR);
    assert_eq!(fuzzing::split_layers(&input).len(), 2);
    assert_eq!(fuzzing::layers(&input), Ok(()));
}

#[test]
fn layers_harness_caps_layer_count() {
    let layer = tar_of(&[("a", b"a")]);
    let input = [layer.as_slice(); MAX_LAYERS + 3].join(LAYER_SEPARATOR);
    let parts = fuzzing::split_layers(&input);
    assert_eq!(parts.len(), MAX_LAYERS);
    // The last part keeps the separators and layers past the cap, so it is not a clean tar
    // but is still read without a panic.
    let _ = fuzzing::layers(&input);
}

#[test]
fn json_harness_reaches_image_load() {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef","size":1024}]}"#;
    assert_eq!(fuzzing::json(&[&[1u8][..], manifest].concat()), Ok(()));

    let config = br#"{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":["sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"]}}"#;
    assert_eq!(fuzzing::json(&[&[2u8][..], config].concat()), Ok(()));

    let docker = br#"[{"Config":"config.json","RepoTags":["fuzz:latest"],"Layers":["layer.tar"]}]"#;
    assert_eq!(fuzzing::json(&[&[3u8][..], docker].concat()), Ok(()));
}

#[test]
fn json_harness_rejects_invalid_index() {
    let err = fuzzing::json(b"\x00{\"manifests\":[]}").unwrap_err();
    assert!(err.contains("index.json"), "{err}");
}

/// Builds a ustar header block for `name` with `size_field` copied into its 12-byte size field.
fn header_with_size_field(name: &str, kind: u8, size_field: [u8; 12]) -> Vec<u8> {
    let mut block = vec![0u8; 512];
    block[..name.len()].copy_from_slice(name.as_bytes());
    block[100..108].copy_from_slice(b"0000644\0");
    block[124..136].copy_from_slice(&size_field);
    block[156] = kind;
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    let checksum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    block[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());
    block
}

// The tar guard rounded every entry size up to whole 512-byte blocks with unchecked
// arithmetic, so a size within 511 bytes of u64::MAX overflowed. Debug builds panicked, and
// release builds wrapped the count to 0 and lost track of the block structure.

#[test]
fn layer_with_maximal_base256_size_is_rejected() {
    // GNU base-256 size: high bit set, then u64::MAX in the low eight bytes.
    let mut size = [0u8; 12];
    size[0] = 0x80;
    size[4..].copy_from_slice(&u64::MAX.to_be_bytes());
    let layer = header_with_size_field("big", b'0', size);
    let err = fuzzing::layers(&layer).unwrap_err();
    assert!(err.contains("more than a tar stream can hold"), "{err}");
}

#[test]
fn layer_with_maximal_pax_size_is_rejected() {
    let record = b"29 size=18446744073709551615\n";
    let mut layer = header_with_size_field(
        "pax",
        b'x',
        *format!("{:011o}\0", record.len())
            .as_bytes()
            .first_chunk()
            .unwrap(),
    );
    let mut data = record.to_vec();
    data.resize(512, 0);
    layer.extend(data);
    layer.extend(header_with_size_field("big", b'0', *b"00000000000\0"));
    let err = fuzzing::layers(&layer).unwrap_err();
    assert!(err.contains("more than a tar stream can hold"), "{err}");
}

#[test]
fn archive_with_maximal_base256_size_is_rejected() {
    let mut size = [0u8; 12];
    size[0] = 0x80;
    size[4..].copy_from_slice(&u64::MAX.to_be_bytes());
    let archive = header_with_size_field("manifest.json", b'0', size);
    let err = fuzzing::archive(&archive).unwrap_err();
    assert!(err.contains("more than a tar stream can hold"), "{err}");
}

// The one-pass reader of compressed archives kept every JSON member whole until the stream
// ended, bounded only per member (64 MiB). This 13 KB zstd archive expands into six JSON
// members of 64 MiB each, and more members of the same kind took memory without bound.

#[test]
fn stream_caps_kept_json_members() {
    let archive = regression("stream-json-members.tar.zst");
    let err = fuzzing::archive(&archive).unwrap_err();
    assert!(err.contains("JSON members total more than"), "{err}");
}
