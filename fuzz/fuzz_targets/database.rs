#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        // libFuzzer's hook aborts on every panic; the ones redb raises inside the crate's
        // boundary are caught there and become errors, which is what this target checks.
        let abort_on_panic = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !diskcache::fuzzing::inside_boundary() {
                abort_on_panic(info);
            }
        }));
    },
    |data: &[u8]| diskcache::fuzzing::database(data)
);
