//! Arbitrary text through the secret scanner, as a file (its name chosen by the first byte)
//! and as a config value.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    imgaudit::fuzzing::secrets(data);
});
