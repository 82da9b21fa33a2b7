//! An OCI index, OCI manifest, image config or docker `manifest.json` (chosen by the first
//! byte) through the source readers, `Image::load`, every check and the report.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = imgaudit::fuzzing::json(data);
});
