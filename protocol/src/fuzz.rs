//! Entry points shared by the fuzz targets (`protocol/fuzz`) and the property tests: each runs
//! one input through the same steps the node runs, and must return, never panic or abort.

use bytes::Bytes;

use crate::batch::validate::{ValidationOptions, decompressed_cap};
use crate::batch::{BatchView, RecordIter, builder, validate_produce};
use crate::codec::{self, Compression};
use crate::frame;
use crate::header::RequestHeader;
use crate::request;

/// A frame as the connection reads it: length prefix, header, structure check. Returns the
/// checked body for a decoder to try.
pub fn frame(data: &[u8]) -> Option<request::CheckedBody> {
    let prefix: [u8; 4] = data.get(..4)?.try_into().ok()?;
    let len = frame::check_len(prefix, frame::FRAME_BYTES_MAX_DEFAULT).ok()?;
    let body = data.get(4..4 + len)?;
    // The node looks for a produce request's records before it reads the rest of the frame.
    let _ = crate::placement::first_records(body);
    let mut body = Bytes::copy_from_slice(body);
    let header = RequestHeader::parse(&mut body).ok()?;
    request::check(header.api_key, header.api_version, body).ok()
}

/// A produced record set: validation, then the conversions the broker may apply. The input is
/// tried as it is and once more with its length and CRC fixed up, so the fuzzer reaches the
/// record parsers behind the checksum.
pub fn batch(data: &[u8]) {
    batch_once(data);
    if data.len() >= crate::batch::view::HEADER_BYTES {
        let mut fixed = data.to_vec();
        let len = (fixed.len() - crate::batch::view::LOG_OVERHEAD) as i32;
        let at = crate::batch::view::BATCH_LENGTH;
        fixed[at..at + 4].copy_from_slice(&len.to_be_bytes());
        fixed[crate::batch::view::MAGIC] = 2;
        fixed[..8].fill(0);
        crate::batch::view::rewrite_crc(&mut fixed);
        batch_once(&fixed);
    }
}

fn batch_once(data: &[u8]) {
    let opts = ValidationOptions {
        max_batch_bytes: 1 << 20,
        require_keys: data.first().is_some_and(|b| b & 1 == 1),
        timestamp_window: None,
        records: data.first().is_some_and(|b| b & 2 == 2),
    };
    if let Ok(view) = validate_produce(data, &opts) {
        for target in Compression::ALL {
            let _ =
                builder::recompress(&view, target, decompressed_cap(view.records_bytes().len()));
        }
        let _ = crate::batch::validate::max_timestamp_record(&view, 0);
        let _ = crate::batch::validate::first_at_or_after(&view, 0, 1);
    }
    if let Ok((view, _)) = BatchView::parse(data, 0)
        && let Ok(codec) = view.header().compression()
        && let Ok(body) = codec::decompress_to_vec(codec, view.records_bytes(), 1 << 20)
    {
        for r in RecordIter::new(&body) {
            if r.is_err() {
                break;
            }
        }
    }
}

/// Raw codec input, every codec, with a small output cap.
pub fn codecs(data: &[u8]) {
    for c in Compression::ALL {
        let _ = codec::decompress_to_vec(c, data, 1 << 20);
    }
}
