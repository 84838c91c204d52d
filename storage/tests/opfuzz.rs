//! Model-based test of the log: random sequences of appends (large ones written with
//! `O_DIRECT`), reads, rolls, flushes, clean reopens, crashes (with the unflushed tail of the active segment torn at a random byte),
//! log-start moves and truncations, checked after every step against a plain list of batches.
//!
//! What a crash may lose is exactly what was not fsynced: bytes past the last flush of the active
//! segment. Whatever survives must read back whole and in order, with contiguous offsets.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

use std::fs::OpenOptions as FsOpen;
use std::path::Path;

use pilgrimage_protocol::batch::view::Batches;
use pilgrimage_protocol::batch::{BatchBuilder, NewRecord};
use pilgrimage_protocol::codec::Compression;
use pilgrimage_storage::{Log, LogConfig, LogPosition, OpenOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: u8,
        value_len: u16,
    },
    Read {
        pick: prop::sample::Index,
    },
    Roll,
    Flush,
    Reopen,
    Crash {
        cut: prop::sample::Index,
    },
    AdvanceStart {
        pick: prop::sample::Index,
    },
    Truncate {
        pick: prop::sample::Index,
    },
    /// Close segment handles beyond the budget (kept at two, so most operations reopen files).
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1u8..20, 0u16..300).prop_map(|(records, value_len)| Op::Append { records, value_len }),
        3 => any::<prop::sample::Index>().prop_map(|pick| Op::Read { pick }),
        1 => Just(Op::Roll),
        2 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        2 => any::<prop::sample::Index>().prop_map(|cut| Op::Crash { cut }),
        1 => any::<prop::sample::Index>().prop_map(|pick| Op::AdvanceStart { pick }),
        1 => any::<prop::sample::Index>().prop_map(|pick| Op::Truncate { pick }),
        1 => Just(Op::Sweep),
    ]
}

/// One batch as the model remembers it: offsets and where it lies on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Placed {
    base: i64,
    last: i64,
    segment: i64,
    end: u64,
}

struct Model {
    batches: Vec<Placed>,
    start: i64,
    next: i64,
    /// The log end the last flush made durable.
    durable: Option<LogPosition>,
    recovery_point: i64,
}

fn config() -> LogConfig {
    LogConfig {
        // Several batches per segment (a batch is at most ~6 KiB here), many segments per run.
        segment_bytes: 8192,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, clean: bool, m: &Model) -> Log {
    Log::open(
        dir,
        config(),
        OpenOptions {
            recovery_point: m.recovery_point,
            log_start_offset: m.start,
            clean_shutdown: clean,
            now_ms: 0,
        },
    )
    .expect("open")
    .0
}

fn batch(records: u8, value_len: u16) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None);
    let v = vec![0xabu8; value_len as usize];
    for i in 0..records {
        b.push(NewRecord {
            timestamp: 1000 + i64::from(i),
            key: Some(b"k"),
            value: Some(&v),
            headers: &[],
        });
    }
    b.build().expect("batch")
}

/// Reads the whole log from its start and returns (base, last) of each batch.
fn read_all(log: &Log) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.next_offset() {
        let bytes = log
            .read(offset, 1 << 20, log.end(), true)
            .expect("plan")
            .execute()
            .expect("read");
        assert!(
            !bytes.is_empty(),
            "no data at {offset} below the log end {}",
            log.next_offset()
        );
        let before = offset;
        for b in Batches::new(&bytes) {
            let Ok(b) = b else { break };
            b.verify().expect("batches read back are whole");
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

fn check(log: &Log, m: &Model) {
    assert_eq!(log.next_offset(), m.next, "log end");
    assert_eq!(log.log_start_offset(), m.start, "log start");
    let want: Vec<(i64, i64)> = m
        .batches
        .iter()
        .filter(|b| b.last >= m.start)
        .map(|b| (b.base, b.last))
        .collect();
    assert_eq!(read_all(log), want);
}

fn run(ops: Vec<Op>) {
    pilgrimage_storage::files::set_limit(2);
    // Batches of more than a few records are written with O_DIRECT, the rest through the page
    // cache: both kinds, interleaved, in every run.
    pilgrimage_storage::direct::set_min_bytes(1500);
    let dir = tempfile::tempdir().expect("dir");
    let mut m = Model {
        batches: Vec::new(),
        start: 0,
        next: 0,
        durable: None,
        recovery_point: 0,
    };
    let mut log = open(dir.path(), true, &m);
    for op in ops {
        match op {
            Op::Append { records, value_len } => {
                let info = log
                    .append(&batch(records, value_len), 0, 0)
                    .expect("append");
                assert_eq!(info.base_offset, m.next);
                m.batches.push(Placed {
                    base: info.base_offset,
                    last: info.last_offset,
                    segment: info.end.segment_base,
                    end: info.end.position,
                });
                m.next = info.last_offset + 1;
            }
            Op::Read { pick } => {
                if m.next > m.start {
                    let offset = m.start + pick.index((m.next - m.start) as usize) as i64;
                    let bytes = log
                        .read(offset, 1, log.end(), true)
                        .expect("plan")
                        .execute()
                        .expect("read");
                    let (v, _) = pilgrimage_protocol::batch::BatchView::parse(&bytes, 0)
                        .expect("a whole first batch");
                    let h = v.header();
                    assert!(
                        h.base_offset <= offset && offset <= h.last_offset(),
                        "read at {offset} got {}..{}",
                        h.base_offset,
                        h.last_offset()
                    );
                }
            }
            Op::Roll => log.roll(0).expect("roll"),
            Op::Sweep => {
                // The bound itself is checked where nothing else runs in the process
                // (`files` unit test, `tests/segment_files.rs`).
                pilgrimage_storage::files::sweep();
            }
            Op::Flush => {
                if let Some(plan) = log.flush_plan() {
                    plan.sync().expect("sync");
                    log.flush_completed(&plan);
                    m.durable = Some(plan.target);
                }
                m.recovery_point = log.recovery_point();
            }
            Op::Reopen => {
                let end = log.end();
                log.close().expect("close");
                // A closed segment is exactly its batches: no direct write's padding is left.
                let path = dir.path().join(format!("{:020}.log", end.segment_base));
                let len = std::fs::metadata(&path).map_or(0, |md| md.len());
                assert_eq!(len, end.position, "closed active segment's length");
                m.recovery_point = log.recovery_point();
                drop(log);
                log = open(dir.path(), true, &m);
            }
            Op::Crash { cut } => {
                // The active segment is torn somewhere past what the last flush made durable.
                let end = log.end();
                drop(log);
                let floor = match m.durable {
                    Some(d) if d.segment_base == end.segment_base => d.position,
                    _ => 0,
                };
                if end.position > floor {
                    let at = floor + cut.index((end.position - floor + 1) as usize) as u64;
                    let path = dir.path().join(format!("{:020}.log", end.segment_base));
                    FsOpen::new()
                        .write(true)
                        .open(&path)
                        .expect("segment")
                        .set_len(at)
                        .expect("cut");
                    m.batches
                        .retain(|b| b.segment != end.segment_base || b.end <= at);
                    m.next = m
                        .batches
                        .last()
                        .map_or(end.segment_base.max(m.start), |b| b.last + 1);
                    if m.batches
                        .last()
                        .is_some_and(|b| b.segment != end.segment_base)
                    {
                        // The whole active segment was cut: the log ends where it began.
                        m.next = end.segment_base;
                    }
                }
                if m.next < m.start {
                    // Everything past the start was lost: the log restarts empty at its start.
                    m.batches.clear();
                    m.next = m.start;
                }
                log = open(dir.path(), false, &m);
                m.recovery_point = log.recovery_point();
                m.durable = Some(log.end());
            }
            Op::AdvanceStart { pick } => {
                if m.next > m.start {
                    let to = m.start + pick.index((m.next - m.start + 1) as usize) as i64;
                    assert_eq!(log.advance_log_start(to).expect("advance"), to);
                    m.start = to;
                }
            }
            Op::Truncate { pick } => {
                let live: Vec<Placed> = m
                    .batches
                    .iter()
                    .copied()
                    .filter(|b| b.base >= m.start)
                    .collect();
                if !live.is_empty() {
                    let to = live[pick.index(live.len())].base;
                    log.truncate_to(to, 0).expect("truncate");
                    m.batches.retain(|b| b.last < to);
                    m.next = to;
                    m.durable = None;
                    m.recovery_point = log.recovery_point();
                }
            }
        }
        check(&log, &m);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn log_matches_its_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}

/// A flush planned before retention deletes its segments (and before the sweep closes their
/// handles) still reaches the planned files: its handles were taken with the plan.
#[test]
fn a_planned_flush_reaches_segments_deleted_meanwhile() {
    pilgrimage_storage::files::set_limit(2);
    let dir = tempfile::tempdir().expect("dir");
    let cfg = LogConfig {
        retention_ms: 1,
        ..config()
    };
    let (mut log, _) = Log::open(
        dir.path(),
        cfg,
        OpenOptions {
            recovery_point: 0,
            log_start_offset: 0,
            clean_shutdown: true,
            now_ms: 0,
        },
    )
    .expect("open");
    for _ in 0..12 {
        log.append(&batch(5, 1000), 0, 0).expect("append");
    }
    assert!(log.segment_count() > 3);
    let plan = log.flush_plan().expect("something to flush");
    let report = log
        .enforce_retention(i64::MAX / 2, log.next_offset())
        .expect("retention");
    assert!(report.segments_deleted > 0);
    pilgrimage_storage::files::sweep();
    plan.sync().expect("the planned files are synced");
    log.flush_completed(&plan);
    assert_eq!(log.recovery_point(), plan.target.offset);
}
