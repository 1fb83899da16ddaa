#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| diskcache::fuzzing::database(data));
