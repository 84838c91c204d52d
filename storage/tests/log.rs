//! The partition log against real files: append and read back, rolling, crash recovery of torn
//! and corrupt tails, index rebuilds, retention and timestamp lookups.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

use std::fs::OpenOptions as FsOpen;
use std::io::Write;

use pilgrimage_protocol::batch::view::{BatchView, Batches};
use pilgrimage_storage::{Log, LogConfig, LogPosition, OpenOptions, Prefetched};

mod common;
use common::{batch, direct_log, open};

fn read_all(log: &Log) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    loop {
        let plan = log.read(offset, 1 << 20, log.end(), true).unwrap();
        let bytes = plan.execute().unwrap();
        if bytes.is_empty() {
            break;
        }
        let before = offset;
        for b in Batches::new(&bytes) {
            let Ok(b) = b else { break };
            b.verify().unwrap();
            let h = b.header();
            if h.last_offset() >= offset {
                out.push((h.base_offset, h.last_offset()));
                offset = h.last_offset() + 1;
            }
        }
        assert!(offset > before, "no whole batch at {before}");
    }
    out
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

#[test]
fn appends_are_read_back_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(), true, 0);
    let mut expected = Vec::new();
    for i in 0..200 {
        let n = 1 + i % 5;
        let b = batch(n, 1000 + i as i64, 40);
        let info = log.append(&b, 0, 1_000_000).unwrap();
        expected.push((info.base_offset, info.last_offset));
    }
    assert!(
        log.segment_count() > 5,
        "rolled into {} segments",
        log.segment_count()
    );
    assert_eq!(read_all(&log), expected);
    // A read from the middle of a batch returns that whole batch.
    let (base, last) = expected[11];
    assert!(last > base);
    let bytes = log
        .read(base + 1, 1, log.end(), true)
        .unwrap()
        .execute()
        .unwrap();
    let (v, _) = BatchView::parse(&bytes, 0).unwrap();
    assert_eq!(v.header().base_offset, base);
    // Reopen cleanly and unclean: same content.
    log.close().unwrap();
    drop(log);
    let log = open(dir.path(), small_segments(), true, 0);
    assert_eq!(read_all(&log), expected);
    drop(log);
    let log = open(dir.path(), small_segments(), false, 0);
    assert_eq!(read_all(&log), expected);
}

#[test]
fn reads_stop_at_the_upper_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true, 0);
    let first = log.append(&batch(3, 10, 10), 0, 0).unwrap();
    log.append(&batch(3, 20, 10), 0, 0).unwrap();
    let bytes = log
        .read(0, 1 << 20, first.end, true)
        .unwrap()
        .execute()
        .unwrap();
    let all: Vec<_> = Batches::new(&bytes)
        .map(|b| b.unwrap().header().base_offset)
        .collect();
    assert_eq!(all, vec![0]);
    assert!(
        log.read(3, 1 << 20, first.end, true)
            .unwrap()
            .execute()
            .unwrap()
            .is_empty()
    );
    assert!(
        log.read(7, 100, log.end(), true).is_err(),
        "past the end is out of range"
    );
}

#[test]
fn torn_tail_is_cut_at_the_last_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true, 0);
    for i in 0..10 {
        log.append(&batch(2, i, 100), 0, 0).unwrap();
    }
    let end = log.end();
    drop(log); // no close: as after SIGKILL
    let seg = dir.path().join("00000000000000000000.log");
    // Half a batch more, as a write cut off by a crash.
    let extra = batch(2, 99, 100);
    FsOpen::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(&extra[..extra.len() / 2])
        .unwrap();
    let log = open(dir.path(), LogConfig::default(), false, 0);
    assert_eq!(log.next_offset(), 20);
    assert_eq!(log.end(), end);
    assert_eq!(read_all(&log).len(), 10);
}

#[test]
fn corrupt_batch_is_cut_with_everything_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(), true, 0);
    let mut positions = Vec::new();
    for i in 0..60 {
        let info = log.append(&batch(1, i, 200), 0, 0).unwrap();
        positions.push(info);
    }
    let segments_before = log.segment_count();
    drop(log);
    // Flip a byte in the records of the 5th batch of the first segment.
    let seg = dir.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(&seg).unwrap();
    let mut pos = 0;
    for _ in 0..4 {
        let (v, _) = BatchView::parse(&bytes[pos..], 0).unwrap();
        pos += v.bytes().len();
    }
    bytes[pos + 70] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let log = open(dir.path(), small_segments(), false, 0);
    assert_eq!(
        log.next_offset(),
        4,
        "records before the corrupt batch survive"
    );
    assert_eq!(
        log.segment_count(),
        1,
        "later segments were {segments_before}, now deleted"
    );
    assert_eq!(read_all(&log).len(), 4);
}

#[test]
fn corrupt_index_is_rebuilt_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(), true, 0);
    for i in 0..100 {
        log.append(&batch(1, i, 50), 0, 0).unwrap();
    }
    let expected = read_all(&log);
    log.close().unwrap();
    drop(log);
    // Garbage in an index: decreasing entries and positions past the file.
    std::fs::write(dir.path().join("00000000000000000000.index"), [0xffu8; 64]).unwrap();
    std::fs::write(dir.path().join("00000000000000000000.timeindex"), [1u8; 25]).unwrap();
    let log = open(dir.path(), small_segments(), true, 0);
    assert_eq!(read_all(&log), expected);
}

#[test]
fn retention_by_time_and_size_moves_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 2048,
        retention_ms: 60_000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), cfg.clone(), true, 0);
    for i in 0..40 {
        log.append(&batch(1, 1_000 + i, 300), 0, 2_000).unwrap();
    }
    let n = log.segment_count();
    assert!(n > 3);
    let hw = log.next_offset();
    // Not yet expired.
    assert_eq!(
        log.enforce_retention(50_000, hw).unwrap().segments_deleted,
        0
    );
    // Everything expired: all old segments go, the active one is rolled and goes too.
    let r = log.enforce_retention(200_000, hw).unwrap();
    assert_eq!(r.segments_deleted, n);
    assert_eq!(log.log_start_offset(), 40);
    assert_eq!(log.next_offset(), 40);
    assert!(log.read(0, 100, log.end(), true).is_err());

    let mut log2 = open(
        tempfile::tempdir().unwrap().keep().as_path(),
        LogConfig {
            segment_bytes: 2048,
            retention_bytes: 4096,
            ..LogConfig::default()
        },
        true,
        0,
    );
    for i in 0..40 {
        log2.append(&batch(1, i, 300), 0, 0).unwrap();
    }
    let r = log2.enforce_retention(0, log2.next_offset()).unwrap();
    assert!(r.segments_deleted > 0);
    assert!(
        log2.size_bytes() >= 4096 - 2048 && log2.size_bytes() < 4096 + 2048,
        "{}",
        log2.size_bytes()
    );
    assert!(log2.log_start_offset() > 0);
    std::fs::remove_dir_all(log2.dir()).unwrap();
}

#[test]
fn retention_never_deletes_above_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 1024,
        retention_ms: 0,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), cfg, true, 0);
    for i in 0..20 {
        log.append(&batch(1, i, 300), 0, 0).unwrap();
    }
    log.enforce_retention(1_000_000, 0).unwrap();
    assert_eq!(log.log_start_offset(), 0);
}

#[test]
fn timestamp_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(), true, 0);
    // Timestamps 0, 10, 20, … with one out-of-order record at offset 50.
    for i in 0..100i64 {
        let ts = if i == 50 { 5 } else { i * 10 };
        log.append(&batch(1, ts, 60), 0, 0).unwrap();
    }
    let end = log.next_offset();
    assert_eq!(log.offset_for_timestamp(0, end).unwrap(), Some((0, 0)));
    assert_eq!(log.offset_for_timestamp(5, end).unwrap(), Some((1, 10)));
    assert_eq!(log.offset_for_timestamp(495, end).unwrap(), Some((51, 510)));
    assert_eq!(log.offset_for_timestamp(10_000, end).unwrap(), None);
    assert_eq!(log.max_timestamp_record(end).unwrap(), Some((99, 990)));
}

#[test]
fn delete_records_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(), true, 0);
    for i in 0..50 {
        log.append(&batch(2, i, 100), 3, 0).unwrap();
    }
    assert_eq!(log.advance_log_start(31).unwrap(), 31);
    log.enforce_retention(0, log.next_offset()).unwrap();
    assert!(log.read(30, 10, log.end(), true).is_err());
    let bytes = log
        .read(31, 10, log.end(), true)
        .unwrap()
        .execute()
        .unwrap();
    assert!(!bytes.is_empty());
    log.truncate_to(60, 0).unwrap();
    assert_eq!(log.next_offset(), 60);
    assert_eq!(read_all(&log).last().map(|b| b.1), Some(59));
    assert_eq!(
        log.leader_epochs().end_offset_for(3, log.next_offset()),
        (3, 60)
    );
    let _ = LogPosition {
        offset: 0,
        segment_base: 0,
        position: 0,
    };
}

/// Large batches are written with O_DIRECT, padded to a block: interleaved with small
/// (page-cache) ones they read back whole, the padding is cut when the segment is sealed or the
/// log closed, and after a crash recovery cuts it without reporting a torn tail or losing the
/// segments after it.
#[test]
fn direct_writes_read_back_and_recover() {
    pilgrimage_storage::direct::set_min_bytes(64 * 1024);
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 1 << 20,
        ..LogConfig::default()
    };
    let before = pilgrimage_storage::direct::written_bytes();
    let mut log = open(dir.path(), cfg.clone(), true, 0);
    let mut small = 0;
    for i in 0..24 {
        // 100 KiB batches written directly, each followed by a small one through the page cache.
        log.append(&batch(10, i, 10_000), 0, 0).unwrap();
        log.append(&batch(1, i, 10 + i as usize), 0, 0).unwrap();
        small += 1;
    }
    assert!(
        pilgrimage_storage::direct::written_bytes() - before >= 24 * 100_000,
        "large batches were written directly"
    );
    assert!(log.segment_count() > 1, "segments rolled");
    let want = read_all(&log);
    assert_eq!(want.len(), 24 + small);
    let end = log.end();

    // Crash (no close): the active segment ends in padding.
    drop(log);
    let active = dir.path().join(format!("{:020}.log", end.segment_base));
    let len = std::fs::metadata(&active).unwrap().len();
    assert!(len > end.position, "direct write left no padding");
    // Sealed segments were cut to their batches when they rolled.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "log") && p != active {
            let bytes = std::fs::read(&p).unwrap();
            let whole: usize = Batches::new(&bytes).map(|b| b.unwrap().bytes().len()).sum();
            assert_eq!(
                whole,
                bytes.len(),
                "{} has bytes past its batches",
                p.display()
            );
        }
    }
    let (log, report) = Log::open(
        dir.path(),
        cfg.clone(),
        OpenOptions {
            recovery_point: 0,
            log_start_offset: 0,
            clean_shutdown: false,
            now_ms: 1_000_000,
        },
    )
    .unwrap();
    assert!(report.reasons.is_empty(), "padding reported: {report:?}");
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(log.end(), end);
    assert_eq!(read_all(&log), want);

    // More appends after recovery (the partial block is read back from the file), then a clean
    // close: the file is exactly its batches.
    let mut log = log;
    log.append(&batch(10, 99, 10_000), 0, 0).unwrap();
    log.append(&batch(1, 99, 33), 0, 0).unwrap();
    log.append(&batch(10, 99, 10_000), 0, 0).unwrap();
    let end = log.end();
    let want = read_all(&log);
    log.close().unwrap();
    drop(log);
    let active = dir.path().join(format!("{:020}.log", end.segment_base));
    assert_eq!(std::fs::metadata(&active).unwrap().len(), end.position);
    let log = open(dir.path(), cfg, true, 0);
    assert_eq!(read_all(&log), want);
}

/// A read of direct-written batches at the tail is served from a read-ahead buffer that stops
/// at the visible end; a read after more appends returns them too, not the old buffer's bytes
/// again (a fetch waiting for `min_bytes` would otherwise get only what it had).
#[test]
fn a_read_after_appends_is_not_cut_at_an_old_read_ahead_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = direct_log(dir.path());
    let served = pilgrimage_storage::prefetch::served_bytes();
    log.append(&batch(10, 0, 10_000), 0, 0).unwrap();
    let first = log
        .read(0, 1 << 20, log.end(), true)
        .unwrap()
        .execute()
        .unwrap();
    assert_eq!(Batches::new(&first).count(), 1);
    assert!(
        pilgrimage_storage::prefetch::served_bytes() > served,
        "the first read came from a read-ahead buffer"
    );
    log.append(&batch(10, 10, 10_000), 0, 0).unwrap();
    let both = log
        .read(0, 1 << 20, log.end(), true)
        .unwrap()
        .execute()
        .unwrap();
    assert_eq!(Batches::new(&both).count(), 2, "the second batch is hidden");
    assert_eq!(read_all(&log), vec![(0, 9), (10, 19)]);
}

/// A read that may not wait on the disk is told which reads would: batches written past the
/// page cache and not read ahead yet. Once read ahead they are served without waiting, and a
/// recent append through the page cache is read from there.
#[test]
fn a_read_that_may_not_wait_is_told_when_it_would() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = direct_log(dir.path());
    let direct = pilgrimage_storage::direct::written_bytes();
    for i in 0..4 {
        log.append(&batch(10, i * 10, 10_000), 0, 0).unwrap();
    }
    if pilgrimage_storage::direct::written_bytes() == direct {
        return; // this file system refuses O_DIRECT: everything is in the page cache
    }
    let plan = log.read(0, 1 << 20, log.end(), true).unwrap();
    assert!(
        matches!(plan.try_read_prefetched().unwrap(), Prefetched::Disk),
        "direct-written batches not read ahead must be read where blocking is allowed"
    );
    let (bytes, end) = plan.execute_to().unwrap();
    assert_eq!(Batches::new(&bytes).count(), 4);
    let again = log.read(0, 1 << 20, log.end(), true).unwrap();
    match again.try_read_prefetched().unwrap() {
        Prefetched::Read(b, e) => assert_eq!((b, e), (bytes, end)),
        other => panic!("a range read ahead must be served without waiting, got {other:?}"),
    }
    log.append(&batch(1, 100, 100), 0, 0).unwrap();
    let tail = log.read(40, 1 << 20, log.end(), true).unwrap();
    assert!(
        matches!(tail.try_read_prefetched().unwrap(), Prefetched::PageCache),
        "a batch just appended through the page cache is read from it"
    );
    assert_eq!(Batches::new(&tail.execute_cached().unwrap().0).count(), 1);
}
