//! `config.User`, passwd, group, os-release, history lines and Env entries, separated by NUL
//! bytes, through the parsers and every check.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    imgaudit::fuzzing::text_parsers(data);
});
