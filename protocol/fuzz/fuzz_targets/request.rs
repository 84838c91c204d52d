//! Frame + header + structure check + kafka-protocol decode of any request.
#![no_main]

use kafka_protocol::messages::{ApiKey, RequestKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(checked) = pilgrimage_protocol::fuzz::frame(data) {
        if let Ok(key) = ApiKey::try_from(checked.api_key) {
            let mut body = checked.body;
            let _ = RequestKind::decode(key, &mut body, checked.version);
        }
    }
});
