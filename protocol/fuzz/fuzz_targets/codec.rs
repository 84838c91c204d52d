//! Every decompressor on raw input, with an output cap.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pilgrimage_protocol::fuzz::codecs(data));
