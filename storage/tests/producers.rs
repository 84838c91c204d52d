//! Producer state of a log: duplicates and sequence errors, transactions and the last stable
//! offset, the aborted transaction index, and all of it surviving clean and unclean restarts,
//! segment rolls, retention and compaction.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

use std::path::Path;

use pilgrimage_protocol::batch::control::{EndTxnMarker, build_marker};
use pilgrimage_protocol::batch::view::Batches;
use pilgrimage_protocol::batch::{BatchBuilder, NewRecord, RecordIter};
use pilgrimage_protocol::codec::Compression;
use pilgrimage_storage::{
    AppendError, AppendOrigin, CleanerLimits, Log, LogConfig, OpenOptions, ProducerError,
};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

fn open_with(dir: &Path, clean: bool, config: LogConfig) -> Log {
    Log::open(
        dir,
        config,
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

fn open(dir: &Path, clean: bool) -> Log {
    open_with(dir, clean, config())
}

/// A batch of `n` records of producer `pid`/`epoch` starting at sequence `seq`.
fn batch(pid: i64, epoch: i16, seq: i32, n: usize, txn: bool, key: u8) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None)
        .producer(pid, epoch, seq)
        .transactional(txn);
    for i in 0..n {
        b.push(NewRecord {
            timestamp: 1_000,
            key: Some(&[key]),
            value: Some(format!("v{pid}-{seq}-{i}").as_bytes()),
            headers: &[],
        });
    }
    b.build().unwrap()
}

fn marker(pid: i64, epoch: i16, commit: bool, coordinator_epoch: i32) -> Vec<u8> {
    build_marker(
        pid,
        epoch,
        EndTxnMarker {
            commit,
            coordinator_epoch,
        },
        2_000,
    )
}

fn produce(log: &mut Log, b: Vec<u8>) -> Result<(i64, i64, bool), AppendError> {
    log.append(&b, 0, 0)
        .map(|i| (i.base_offset, i.last_offset, i.duplicate))
}

fn end_txn(log: &mut Log, pid: i64, epoch: i16, commit: bool) -> i64 {
    let m = marker(pid, epoch, commit, 0);
    log.append_from(&m, 0, 0, AppendOrigin::Coordinator)
        .unwrap()
        .base_offset
}

#[test]
fn retries_are_answered_with_the_original_offsets_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    assert_eq!(
        produce(&mut log, batch(1, 0, 0, 3, false, 1)).unwrap(),
        (0, 2, false)
    );
    assert_eq!(
        produce(&mut log, batch(1, 0, 3, 2, false, 1)).unwrap(),
        (3, 4, false)
    );
    // A retry of either is a duplicate: same offsets, nothing written.
    assert_eq!(
        produce(&mut log, batch(1, 0, 0, 3, false, 1)).unwrap(),
        (0, 2, true)
    );
    assert_eq!(log.next_offset(), 5);
    // A gap is out of order; an old epoch is fenced.
    assert!(matches!(
        produce(&mut log, batch(1, 0, 9, 1, false, 1)),
        Err(AppendError::Producer(ProducerError::OutOfOrderSequence(_)))
    ));
    assert!(matches!(
        produce(&mut log, batch(1, -1, 5, 1, false, 1)),
        Err(AppendError::Producer(ProducerError::InvalidProducerEpoch(
            _
        )))
    ));
    // Clean restart: the snapshot written at close holds the state.
    log.close().unwrap();
    drop(log);
    let mut log = open(dir.path(), true);
    assert_eq!(
        produce(&mut log, batch(1, 0, 3, 2, false, 1)).unwrap(),
        (3, 4, true)
    );
    // Fill a few segments (rolls take snapshots), then "crash": no close.
    let mut seq = 5;
    for _ in 0..100 {
        produce(&mut log, batch(1, 0, seq, 4, false, 1)).unwrap();
        seq += 4;
    }
    assert!(log.segment_count() > 3);
    let end = log.next_offset();
    drop(log);
    let snapshots = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".snapshot")
        })
        .count();
    assert!(snapshots >= 3, "{snapshots} snapshots");
    let mut log = open(dir.path(), false);
    assert_eq!(log.next_offset(), end);
    // The last five batches are still known after replaying past the latest snapshot.
    let last = produce(&mut log, batch(1, 0, seq - 4, 4, false, 1)).unwrap();
    assert_eq!(last, (end - 4, end - 1, true));
    assert_eq!(
        produce(&mut log, batch(1, 0, seq, 1, false, 1)).unwrap(),
        (end, end, false)
    );
}

#[test]
fn transactions_bound_the_lso_and_aborts_are_indexed_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    produce(&mut log, batch(-1, -1, -1, 2, false, 0)).unwrap(); // 0..1, plain
    produce(&mut log, batch(10, 0, 0, 2, true, 1)).unwrap(); // 2..3, txn of 10
    produce(&mut log, batch(11, 0, 0, 1, true, 2)).unwrap(); // 4, txn of 11
    assert_eq!(log.first_unstable_offset(), Some(2));
    let hw = log.end();
    assert_eq!(log.last_stable(hw).offset, 2);
    // A plain write from a producer with an open transaction is refused.
    assert!(matches!(
        produce(&mut log, batch(10, 0, 2, 1, false, 1)),
        Err(AppendError::Producer(ProducerError::InvalidTxnState(_)))
    ));
    let abort_at = end_txn(&mut log, 10, 0, false); // 5
    assert_eq!(abort_at, 5);
    assert_eq!(log.first_unstable_offset(), Some(4));
    let aborted = log.aborted_txns(0, 100);
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        (
            aborted[0].producer_id,
            aborted[0].first_offset,
            aborted[0].last_offset,
            aborted[0].last_stable_offset
        ),
        (10, 2, 5, 4)
    );
    // A marker from a fenced coordinator is refused.
    let stale = marker(11, 0, true, -5);
    end_txn(&mut log, 11, 0, true);
    produce(&mut log, batch(11, 0, 1, 1, true, 2)).unwrap(); // a new txn of 11
    assert!(matches!(
        log.append_from(&stale, 0, 0, AppendOrigin::Coordinator),
        Err(AppendError::Producer(ProducerError::CoordinatorFenced(_)))
    ));
    let open_txn = log.first_unstable_offset().unwrap();
    // Unclean restart: the state is replayed, the open transaction still bounds the LSO and
    // the abort is still indexed.
    let end = log.next_offset();
    drop(log);
    let mut log = open(dir.path(), false);
    assert_eq!(log.next_offset(), end);
    assert_eq!(log.first_unstable_offset(), Some(open_txn));
    assert_eq!(log.last_stable(log.end()).offset, open_txn);
    assert_eq!(log.aborted_txns(0, 100), aborted);
    // Past the abort, a fetch sees no aborted transaction.
    assert!(log.aborted_txns(6, 100).is_empty());
    end_txn(&mut log, 11, 0, true);
    assert_eq!(log.first_unstable_offset(), None);
    log.close().unwrap();
    drop(log);
    let log = open(dir.path(), true);
    assert_eq!(log.first_unstable_offset(), None);
    assert_eq!(log.aborted_txns(0, 100), aborted);
}

#[test]
fn a_lost_txn_index_is_rebuilt_from_the_markers() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    for round in 0..30i32 {
        produce(&mut log, batch(7, 0, round, 1, true, 1)).unwrap();
        end_txn(&mut log, 7, 0, round % 2 == 0);
    }
    assert!(log.segment_count() > 1);
    let aborted = log.aborted_txns(0, i64::MAX);
    assert_eq!(aborted.len(), 15);
    log.close().unwrap();
    drop(log);
    // Damage every .txnindex file.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "txnindex") {
            std::fs::write(&p, [1u8; 7]).unwrap();
        }
    }
    let log = open(dir.path(), true);
    assert_eq!(log.aborted_txns(0, i64::MAX), aborted);
}

/// A fetch sent from the file bounds its aborted transactions with the offset index: for every
/// start offset and size, across segments, the list must hold every abort that the batches
/// actually returned overlap (what a bound from the batches themselves gives).
#[test]
fn index_bounded_aborts_cover_the_batches_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    let mut seq = [0i32; 2];
    // Two producers interleave transactions of 1–4 batches; every third one aborts.
    for round in 0..40usize {
        for (i, pid) in [20i64, 21].into_iter().enumerate() {
            for _ in 0..=(round + i) % 4 {
                let n = 1 + (round * 7 + i) % 5;
                produce(&mut log, batch(pid, 0, seq[i], n, true, i as u8)).unwrap();
                seq[i] += n as i32;
            }
        }
        end_txn(&mut log, 20, 0, round % 3 != 0);
        end_txn(&mut log, 21, 0, round % 3 != 1);
    }
    assert!(log.segment_count() > 5, "{} segments", log.segment_count());
    let end = log.end();
    let mut checked = 0;
    for from in 0..end.offset {
        for max in [1, 200, 700, 3000] {
            let plan = log.read(from, max, end, true).unwrap();
            let Some(range) = plan.locate().unwrap() else {
                continue;
            };
            let (bytes, end) = plan.execute_to().unwrap();
            assert_eq!(bytes.len(), range.len);
            assert_eq!(end, range.position + range.len as u64);
            let mut upper = from;
            for b in Batches::new(&bytes) {
                let Ok(b) = b else { break };
                upper = b.header().last_offset() + 1;
            }
            let exact = log.aborted_txns(from, upper);
            let bounded = log
                .aborted_txns_before(from, plan.segment_base(), range.position + range.len as u64)
                .unwrap();
            for a in &exact {
                assert!(bounded.contains(a), "from {from}, max {max}: {a:?} missing");
            }
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked} reads checked");
    // Records removed from the log after the read was planned: their segment's aborts may be
    // gone with it, so the records must not be sent.
    let plan = log.read(0, 3000, end, true).unwrap();
    let range = plan.locate().unwrap().unwrap();
    log.advance_log_start(10).unwrap();
    let stale = log.aborted_txns_before(0, plan.segment_base(), range.position + 1);
    assert_eq!(stale, None);
}

/// Records surviving in the log: (offset, key, value).
fn records(log: &Log) -> Vec<(i64, u8, String)> {
    let plan = log
        .read(log.log_start_offset(), 1 << 24, log.end(), true)
        .unwrap();
    let bytes = plan.execute().unwrap();
    let mut out = Vec::new();
    for b in Batches::new(&bytes) {
        let b = b.unwrap();
        let h = *b.header();
        if h.is_control() {
            continue;
        }
        for r in RecordIter::new(b.records_bytes()) {
            let r = r.unwrap();
            out.push((
                h.base_offset + i64::from(r.offset_delta),
                r.key.unwrap()[0],
                String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
            ));
        }
    }
    out
}

#[test]
fn compaction_drops_aborted_writes_and_never_cleans_open_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        cleanup_compact: true,
        cleanup_delete: false,
        min_cleanable_dirty_ratio: 0.0,
        ..config()
    };
    let mut log = open_with(dir.path(), true, cfg.clone());
    // Key 1: committed "v1-0-0", then an aborted write; key 2: an open transaction.
    produce(&mut log, batch(1, 0, 0, 1, true, 1)).unwrap();
    end_txn(&mut log, 1, 0, true);
    produce(&mut log, batch(1, 0, 1, 1, true, 1)).unwrap();
    end_txn(&mut log, 1, 0, false);
    // Filler of other keys so there are sealed segments to clean before the open
    // transaction, and after it.
    for i in 0..40 {
        produce(&mut log, batch(-1, -1, -1, 3, false, 100 + i)).unwrap();
    }
    let open_at = produce(&mut log, batch(2, 0, 0, 1, true, 2)).unwrap().0;
    for i in 0..40 {
        produce(&mut log, batch(-1, -1, -1, 3, false, 100 + i)).unwrap();
    }
    let before = records(&log);
    let hw = log.end().offset;
    let plan = log.cleaning_plan(0, hw).expect("worth cleaning");
    let cleaned = plan.run(CleanerLimits::default()).unwrap();
    log.install_cleaned(cleaned).unwrap();
    let after = records(&log);
    // The committed value of key 1 survives; the aborted one is gone.
    assert!(
        after
            .iter()
            .any(|(o, k, v)| *o == 0 && *k == 1 && v == "v1-0-0")
    );
    assert!(!after.iter().any(|(_, k, v)| *k == 1 && v == "v1-1-0"));
    // Nothing at or after the open transaction was touched.
    let tail = |rs: &[(i64, u8, String)]| {
        rs.iter()
            .filter(|(o, _, _)| *o >= open_at)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(tail(&before), tail(&after));
    // The producer state still knows producer 1's sequences after a restart.
    let end = log.next_offset();
    drop(log);
    let mut log = open_with(dir.path(), false, cfg);
    assert_eq!(log.next_offset(), end);
    assert_eq!(log.first_unstable_offset(), Some(open_at));
    assert!(matches!(
        produce(&mut log, batch(1, 0, 5, 1, false, 1)),
        Err(AppendError::Producer(ProducerError::OutOfOrderSequence(_)))
    ));
}

#[test]
fn producers_outlive_their_batches_until_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    produce(&mut log, batch(1, 0, 0, 1, false, 1)).unwrap();
    for i in 0..60 {
        produce(&mut log, batch(2, 0, i * 2, 2, false, 2)).unwrap();
    }
    let start = log.advance_log_start(10).unwrap();
    assert_eq!(start, 10);
    // As in Kafka, moving the log start keeps producer state: sequences are still checked.
    assert!(log.producer_state().entry(1).is_some());
    assert!(matches!(
        produce(&mut log, batch(1, 0, 77, 1, false, 1)),
        Err(AppendError::Producer(ProducerError::OutOfOrderSequence(_)))
    ));
    // Expiry counts from the last batch's timestamp (1000 here).
    assert_eq!(
        log.remove_expired_producers(1_000 + 86_400_000, 86_400_000),
        2
    );
    // With no state left, producer 1 may continue at any sequence.
    assert!(produce(&mut log, batch(1, 0, 77, 1, false, 1)).is_ok());
}
