//! Control batches: the COMMIT and ABORT markers a transaction coordinator writes to every
//! partition of a transaction. A control batch is transactional, uncompressed, carries the
//! producer id and epoch of the transaction, base sequence -1 and exactly one record:
//!
//! ```text
//! key:   version i16 (0), type i16 (0 = ABORT, 1 = COMMIT)
//! value: version i16 (0), coordinator epoch i32
//! ```
//! Consumers never see these records: clients skip control batches.

use crate::batch::builder::{BatchBuilder, NewRecord};
use crate::batch::records::RecordIter;
use crate::batch::view::BatchView;
use crate::codec::Compression;
use crate::error::BatchError;

/// An end-of-transaction marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

const ABORT: i16 = 0;
const COMMIT: i16 = 1;

/// Reads the marker of a control batch. Unknown control types (Kafka defines more for KRaft)
/// are errors here: data partitions only hold transaction markers.
pub fn parse_marker(batch: &BatchView<'_>) -> Result<EndTxnMarker, BatchError> {
    let bad = |detail: String| BatchError::Record { index: 0, detail };
    let h = batch.header();
    if !h.is_control() {
        return Err(bad("not a control batch".into()));
    }
    let rec = RecordIter::new(batch.records_bytes())
        .next()
        .ok_or_else(|| bad("control batch without a record".into()))?
        .map_err(|e| bad(e.0))?;
    let key = rec
        .key
        .filter(|k| k.len() >= 4)
        .ok_or_else(|| bad("control record key shorter than 4 bytes".into()))?;
    let kind = i16::from_be_bytes([key[2], key[3]]);
    let commit = match kind {
        ABORT => false,
        COMMIT => true,
        other => return Err(bad(format!("control record type {other}"))),
    };
    let value = rec
        .value
        .filter(|v| v.len() >= 6)
        .ok_or_else(|| bad("marker value shorter than 6 bytes".into()))?;
    Ok(EndTxnMarker {
        commit,
        coordinator_epoch: i32::from_be_bytes([value[2], value[3], value[4], value[5]]),
    })
}

/// Builds a marker batch (base offset 0; the log assigns the real one).
pub fn build_marker(
    producer_id: i64,
    producer_epoch: i16,
    marker: EndTxnMarker,
    timestamp: i64,
) -> Vec<u8> {
    let kind = if marker.commit { COMMIT } else { ABORT };
    let mut key = [0u8; 4];
    key[2..].copy_from_slice(&kind.to_be_bytes());
    let mut value = [0u8; 6];
    value[2..].copy_from_slice(&marker.coordinator_epoch.to_be_bytes());
    let mut b = BatchBuilder::new(Compression::None)
        .producer(producer_id, producer_epoch, -1)
        .transactional(true)
        .control(true);
    b.push(NewRecord {
        timestamp,
        key: Some(&key),
        value: Some(&value),
        headers: &[],
    });
    // An uncompressed batch cannot fail to encode.
    b.build().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for commit in [true, false] {
            let m = EndTxnMarker {
                commit,
                coordinator_epoch: 7,
            };
            let bytes = build_marker(42, 3, m, 1_700_000_000_000);
            let (v, rest) = BatchView::parse(&bytes, 0).unwrap();
            assert!(rest.is_empty());
            v.verify().unwrap();
            let h = v.header();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (42, 3, -1)
            );
            assert_eq!(parse_marker(&v).unwrap(), m);
        }
    }
}
