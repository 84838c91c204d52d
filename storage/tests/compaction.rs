//! Log compaction against a model: random keyed records and tombstones, compacted in passes;
//! the latest record of every key survives with its offset, superseded records go, tombstones go
//! once their delete horizon has passed; a pass interrupted by a crash at any step loses nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

use std::collections::BTreeMap;
use std::path::Path;

use pilgrimage_protocol::batch::view::Batches;
use pilgrimage_protocol::batch::{BatchBuilder, NewRecord, RecordIter};
use pilgrimage_protocol::codec::{self, Compression};
use pilgrimage_storage::{CleanerLimits, Log, LogConfig, OpenOptions};
use proptest::prelude::*;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 512,
        cleanup_compact: true,
        cleanup_delete: false,
        delete_retention_ms: 1000,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, clean: bool) -> Log {
    // Batches of a few records and more are appended with O_DIRECT: the cleaner reads segments
    // written both ways (and writes its own through the page cache).
    pilgrimage_storage::direct::set_min_bytes(256);
    Log::open(
        dir,
        config(),
        OpenOptions {
            recovery_point: 0,
            log_start_offset: 0,
            clean_shutdown: clean,
            now_ms: 0,
        },
    )
    .expect("open")
    .0
}

/// (key, value); `None` is a tombstone.
type Rec = (u8, Option<u16>);

fn append(log: &mut Log, recs: &[Rec], codec: Compression) {
    let mut b = BatchBuilder::new(codec);
    let values: Vec<Vec<u8>> = recs
        .iter()
        .map(|(_, v)| v.map(|v| v.to_be_bytes().repeat(20)).unwrap_or_default())
        .collect();
    for ((k, v), bytes) in recs.iter().zip(&values) {
        b.push(NewRecord {
            timestamp: 1_000,
            key: Some(&[*k][..]),
            value: v.map(|_| bytes.as_slice()),
            headers: &[],
        });
    }
    log.append(&b.build().expect("batch"), 0, 0)
        .expect("append");
}

/// Every record in the log: (offset, key, value).
fn read_all(log: &Log) -> Vec<(i64, u8, Option<u16>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.next_offset() {
        let bytes = log
            .read(offset, 1 << 20, log.end(), true)
            .expect("plan")
            .execute()
            .expect("read");
        if bytes.is_empty() {
            break;
        }
        let mut progressed = false;
        for b in Batches::new(&bytes) {
            let Ok(b) = b else { break };
            b.verify().expect("whole batch");
            let h = b.header();
            if h.last_offset() < offset {
                continue;
            }
            let body = codec::decompress_to_vec(
                h.compression().expect("codec"),
                b.records_bytes(),
                1 << 24,
            )
            .expect("body");
            for r in RecordIter::new(&body) {
                let r = r.expect("record");
                let o = h.base_offset + i64::from(r.offset_delta);
                let v = r.value.map(|v| u16::from_be_bytes([v[0], v[1]]));
                out.push((o, r.key.expect("keyed")[0], v));
            }
            offset = h.last_offset() + 1;
            progressed = true;
        }
        assert!(progressed, "stuck at {offset}");
    }
    out
}

/// One pass at `now_ms`; returns whether it ran.
fn clean(log: &mut Log, now_ms: i64) -> bool {
    let hw = log.next_offset();
    let Some(plan) = log.cleaning_plan(now_ms, hw) else {
        return false;
    };
    let cleaned = plan
        .run(CleanerLimits {
            dedupe_entries: 64,
            io_bytes_per_sec: f64::INFINITY,
        })
        .expect("clean");
    log.install_cleaned(cleaned).expect("install");
    true
}

/// What must hold after compaction: each key's latest record is present with its offset (a
/// tombstone may be gone once its horizon passed), nothing the log holds is older than the latest
/// of its key unless it lies in the part not cleaned yet, and offsets only increase.
fn check(log: &Log, history: &[(i64, u8, Option<u16>)], tombstones_expired: bool) {
    let got = read_all(log);
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "offsets increase");
    let mut latest: BTreeMap<u8, (i64, Option<u16>)> = BTreeMap::new();
    for (o, k, v) in history {
        latest.insert(*k, (*o, *v));
    }
    let held: BTreeMap<i64, (u8, Option<u16>)> =
        got.iter().map(|(o, k, v)| (*o, (*k, *v))).collect();
    for (k, (o, v)) in &latest {
        match held.get(o) {
            Some(&(hk, hv)) => assert_eq!((hk, hv), (*k, *v), "offset {o} holds another record"),
            None => assert!(
                v.is_none() && tombstones_expired,
                "latest record of key {k} at {o} lost"
            ),
        }
    }
    let cleaned_to = log.first_dirty_offset();
    for (o, k, _) in &got {
        if *o < cleaned_to {
            assert_eq!(
                latest[k].0, *o,
                "superseded record of key {k} at {o} survived cleaning"
            );
        }
    }
}

fn codec() -> impl Strategy<Value = Compression> {
    proptest::sample::select(Compression::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn compaction_keeps_the_latest_record_of_every_key(
        batches in proptest::collection::vec((proptest::collection::vec((0u8..24, proptest::option::weighted(0.8, any::<u16>())), 1..12), codec()), 5..80),
        passes in 1usize..4,
    ) {
        let dir = tempfile::tempdir().expect("dir");
        let mut log = open(dir.path(), true);
        let mut history = Vec::new();
        for (recs, codec) in &batches {
            let base = log.next_offset();
            append(&mut log, recs, *codec);
            for (i, (k, v)) in recs.iter().enumerate() {
                history.push((base + i as i64, *k, *v));
            }
        }
        log.roll(0).expect("roll");
        for p in 0..passes {
            clean(&mut log, 10 + p as i64);
            check(&log, &history, false);
        }
        // Past every delete horizon (set at the first pass + 1000 ms): tombstones go.
        log.set_first_dirty_offset(0);
        clean(&mut log, 1_000_000);
        check(&log, &history, true);
        let after: Vec<_> = read_all(&log);
        prop_assert!(after.iter().all(|(o, _, v)| v.is_some() || *o >= log.first_dirty_offset()), "expired tombstones dropped");
        // The compacted log survives a clean reopen and a crash reopen unchanged.
        log.close().expect("close");
        drop(log);
        let log = open(dir.path(), true);
        prop_assert_eq!(read_all(&log), after.clone());
        drop(log);
        let log = open(dir.path(), false);
        prop_assert_eq!(read_all(&log), after);
    }
}

fn filled(dir: &Path) -> (Log, Vec<(i64, u8, Option<u16>)>) {
    let mut log = open(dir, true);
    let mut history = Vec::new();
    for round in 0..60u16 {
        let recs: Vec<Rec> = (0..8u8)
            .map(|k| {
                (
                    k,
                    (round % 7 != 3 || k % 2 == 0).then_some(round * 10 + u16::from(k)),
                )
            })
            .collect();
        let base = log.next_offset();
        append(&mut log, &recs, Compression::Lz4);
        history.extend(
            recs.iter()
                .enumerate()
                .map(|(i, (k, v))| (base + i as i64, *k, *v)),
        );
    }
    log.roll(0).expect("roll");
    (log, history)
}

fn files_with(dir: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect()
}

/// A crash after the cleaned files were written but before any swap: the pass is discarded and
/// the log is as it was.
#[test]
fn crash_before_the_swap_discards_the_pass() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut log, history) = filled(dir.path());
    let before = read_all(&log);
    let plan = log
        .cleaning_plan(10, log.next_offset())
        .expect("worth cleaning");
    let cleaned = plan.run(CleanerLimits::default()).expect("run");
    assert!(!files_with(dir.path(), ".cleaned").is_empty());
    drop(cleaned);
    drop(log); // crash
    let log = open(dir.path(), false);
    assert!(
        files_with(dir.path(), ".cleaned").is_empty(),
        "unfinished output removed"
    );
    assert_eq!(read_all(&log), before);
    check(&log, &history, false);
}

/// A crash in the middle of a swap (the `.swap` in place, some replaced segments deleted, some
/// not): recovery finishes it.
#[test]
fn crash_during_the_swap_is_finished_on_recovery() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut log, history) = filled(dir.path());
    let plan = log
        .cleaning_plan(10, log.next_offset())
        .expect("worth cleaning");
    let cleaned = plan.run(CleanerLimits::default()).expect("run");
    let outputs = files_with(dir.path(), ".cleaned");
    assert!(outputs.len() >= 2, "several groups: {outputs:?}");
    drop(cleaned);
    drop(log);
    // Simulate the install reaching the first group's point of no return and deleting one of
    // the segments it replaces before the crash.
    let first = outputs.iter().min().expect("output").clone();
    let swap = std::path::PathBuf::from(first.to_string_lossy().replace(".cleaned", ".swap"));
    std::fs::rename(&first, &swap).expect("rename");
    let name = swap
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    let base: i64 = name
        .split('.')
        .next()
        .expect("base")
        .parse()
        .expect("number");
    std::fs::remove_file(dir.path().join(format!("{base:020}.log")))
        .expect("delete first replaced");
    let log = open(dir.path(), false);
    assert!(files_with(dir.path(), ".swap").is_empty());
    assert!(files_with(dir.path(), ".cleaned").is_empty());
    check(&log, &history, false);
}

/// Compacting a topic with one key and many updates keeps one record (a commit-storm shape).
#[test]
fn a_single_hot_key_compacts_to_one_record() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = open(dir.path(), true);
    for i in 0..2000u16 {
        append(&mut log, &[(7, Some(i))], Compression::None);
    }
    log.roll(0).expect("roll");
    let size_before = log.size_bytes();
    assert!(clean(&mut log, 10));
    let got = read_all(&log);
    assert_eq!(got, vec![(1999, 7, Some(1999))]);
    assert!(
        log.size_bytes() * 20 < size_before,
        "{} -> {}",
        size_before,
        log.size_bytes()
    );
}
