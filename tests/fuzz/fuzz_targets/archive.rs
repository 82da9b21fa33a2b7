//! An image archive file (`docker save`, Docker 25+ or OCI archive) through `source::open`,
//! `Image::load`, every check and the report.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = imgaudit::fuzzing::archive(data);
});
