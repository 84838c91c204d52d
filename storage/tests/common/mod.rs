//! Helpers the storage integration tests share.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use pilgrimage_protocol::batch::{BatchBuilder, NewRecord};
use pilgrimage_protocol::codec::Compression;
use pilgrimage_storage::{Log, LogConfig, OpenOptions};

/// A batch of `n` records with values of `value_len` bytes, timestamps from `ts`.
pub(crate) fn batch(n: usize, ts: i64, value_len: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None);
    let v = vec![7u8; value_len];
    for i in 0..n {
        b.push(NewRecord {
            timestamp: ts + i as i64,
            key: Some(b"key"),
            value: Some(&v),
            headers: &[],
        });
    }
    b.build().unwrap()
}

/// Opens (or recovers) the log in `dir`; `clean` as after a clean shutdown, `rp` the recovery
/// point.
pub(crate) fn open(dir: &Path, cfg: LogConfig, clean: bool, rp: i64) -> Log {
    Log::open(
        dir,
        cfg,
        OpenOptions {
            recovery_point: rp,
            log_start_offset: 0,
            clean_shutdown: clean,
            now_ms: 1_000_000,
        },
    )
    .unwrap()
    .0
}

/// A fresh log in `dir` whose appends of 64 KiB and more are written with `O_DIRECT` (the
/// smallest direct write is process-wide: every test that sets it sets the same).
pub(crate) fn direct_log(dir: &Path) -> Log {
    pilgrimage_storage::direct::set_min_bytes(64 * 1024);
    open(dir, LogConfig::default(), true, 0)
}
