//! Produced record sets: validation, recompression, record iteration.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pilgrimage_protocol::fuzz::batch(data));
