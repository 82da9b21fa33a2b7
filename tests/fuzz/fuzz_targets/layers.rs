//! One to eight layer blobs, separated by `%%LAYER%%`, through decompression, the tar guard, the
//! tar walk and the merged filesystem of an OCI layout, then every check and the report.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = imgaudit::fuzzing::layers(data);
});
