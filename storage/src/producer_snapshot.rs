//! Producer state snapshots: `<offset>.snapshot` holds the producer state of the log below
//! `offset`, so that opening a log replays only the batches after its latest snapshot.
//!
//! Format (big-endian), written atomically (temporary file, fsync, rename, directory fsync):
//! ```text
//! version           i16   = 1
//! crc               u32   CRC32C of everything after this field
//! producer count    i32
//! per producer:
//!   producer id     i64
//!   epoch           i16
//!   coordinator ep. i32
//!   last timestamp  i64
//!   txn first off.  i64   (-1: no open transaction)
//!   batch count     i8    (≤ 5)
//!   per batch:      first seq i32, last seq i32, last offset i64, offset delta i32, timestamp i64
//! ```
//! Unlike Kafka's snapshot, which keeps only the last batch of each producer, all five are
//! kept, so retries are still recognised as duplicates after a restart.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::checkpoint::write_atomic;
use crate::error::StorageError;
use crate::producer_state::{BATCHES_PER_PRODUCER, BatchMeta, ProducerEntry};

const VERSION: i16 = 1;
const ENTRY_FIXED_BYTES: usize = 8 + 2 + 4 + 8 + 8 + 1;

pub(crate) fn file_name(offset: i64) -> String {
    format!("{offset:020}.snapshot")
}

pub(crate) fn path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(file_name(offset))
}

/// Offsets of the snapshots in `dir`, ascending.
pub(crate) fn list(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StorageError::io("list log dir", dir, e))? {
        let entry = entry.map_err(|e| StorageError::io("list log dir", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".snapshot") else {
            continue;
        };
        if stem.len() == 20
            && stem.bytes().all(|b| b.is_ascii_digit())
            && let Ok(o) = stem.parse()
        {
            out.push(o);
        }
    }
    out.sort_unstable();
    Ok(out)
}

pub(crate) fn encode<'a>(entries: impl Iterator<Item = &'a ProducerEntry>) -> Vec<u8> {
    let mut body = Vec::new();
    let mut count: i32 = 0;
    for e in entries {
        count += 1;
        body.extend_from_slice(&e.producer_id.to_be_bytes());
        body.extend_from_slice(&e.epoch.to_be_bytes());
        body.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        body.extend_from_slice(&e.last_timestamp.to_be_bytes());
        body.extend_from_slice(&e.txn_first_offset.unwrap_or(-1).to_be_bytes());
        let n = e.batches.len().min(BATCHES_PER_PRODUCER);
        body.push(n as u8);
        for b in e.batches.iter().skip(e.batches.len() - n) {
            body.extend_from_slice(&b.first_seq.to_be_bytes());
            body.extend_from_slice(&b.last_seq.to_be_bytes());
            body.extend_from_slice(&b.last_offset.to_be_bytes());
            body.extend_from_slice(&b.offset_delta.to_be_bytes());
            body.extend_from_slice(&b.timestamp.to_be_bytes());
        }
    }
    let mut payload = Vec::with_capacity(body.len() + 4);
    payload.extend_from_slice(&count.to_be_bytes());
    payload.extend_from_slice(&body);
    let mut out = Vec::with_capacity(payload.len() + 6);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&pilgrimage_protocol::crc::crc32c(&payload).to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Decodes a snapshot; every length is checked against the bytes present.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<ProducerEntry>, String> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if version != VERSION {
        return Err(format!("unknown snapshot version {version}"));
    }
    let crc = r.u32()?;
    if pilgrimage_protocol::crc::crc32c(r.0) != crc {
        return Err("CRC mismatch".into());
    }
    let count = r.i32()?;
    if count < 0 || count as usize > r.0.len() / ENTRY_FIXED_BYTES {
        return Err(format!("producer count {count} does not fit the file"));
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let producer_id = r.i64()?;
        let epoch = r.i16()?;
        let coordinator_epoch = r.i32()?;
        let last_timestamp = r.i64()?;
        let txn = r.i64()?;
        let n = r.u8()? as usize;
        if n > BATCHES_PER_PRODUCER {
            return Err(format!("{n} batches for producer {producer_id}"));
        }
        let mut batches = VecDeque::with_capacity(n);
        for _ in 0..n {
            batches.push_back(BatchMeta {
                first_seq: r.i32()?,
                last_seq: r.i32()?,
                last_offset: r.i64()?,
                offset_delta: r.i32()?,
                timestamp: r.i64()?,
            });
        }
        out.push(ProducerEntry {
            producer_id,
            epoch,
            batches,
            coordinator_epoch,
            txn_first_offset: (txn >= 0).then_some(txn),
            last_timestamp,
        });
    }
    if !r.0.is_empty() {
        return Err(format!("{} trailing bytes", r.0.len()));
    }
    Ok(out)
}

pub(crate) fn write<'a>(
    dir: &Path,
    offset: i64,
    entries: impl Iterator<Item = &'a ProducerEntry>,
) -> Result<(), StorageError> {
    write_atomic(&path(dir, offset), &encode(entries))
}

pub(crate) fn read(dir: &Path, offset: i64) -> Result<Vec<ProducerEntry>, StorageError> {
    let p = path(dir, offset);
    let bytes = std::fs::read(&p).map_err(|e| StorageError::io("read snapshot", &p, e))?;
    decode(&bytes).map_err(|detail| StorageError::Corrupt {
        what: "producer snapshot",
        path: p,
        detail,
    })
}

pub(crate) fn delete(dir: &Path, offset: i64) {
    let p = path(dir, offset);
    if let Err(e) = std::fs::remove_file(&p)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(file = %p.display(), error = %e, "could not delete producer snapshot");
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| "truncated snapshot".to_string())?;
        self.0 = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take::<1>()?[0])
    }
    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.take()?))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.take()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let entries = vec![
            ProducerEntry {
                producer_id: 5,
                epoch: 2,
                batches: (0..5)
                    .map(|i| BatchMeta {
                        first_seq: i * 10,
                        last_seq: i * 10 + 9,
                        last_offset: i64::from(i) * 10 + 9,
                        offset_delta: 9,
                        timestamp: 77,
                    })
                    .collect(),
                coordinator_epoch: 4,
                txn_first_offset: Some(40),
                last_timestamp: 77,
            },
            ProducerEntry {
                producer_id: 6,
                epoch: 0,
                batches: VecDeque::new(),
                coordinator_epoch: -1,
                txn_first_offset: None,
                last_timestamp: -1,
            },
        ];
        let bytes = encode(entries.iter());
        assert_eq!(decode(&bytes).unwrap(), entries);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad).is_err(), "flip at {i} went unnoticed");
        }
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err());
        }
    }
}
