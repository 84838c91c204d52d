//! The read-ahead budget under pressure, alone in its process (the budget is process-wide):
//! a buffer no fetch has used for a while gives its memory to a reader that needs it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

use std::time::Duration;

use pilgrimage_protocol::batch::view::Batches;
use pilgrimage_storage::{Prefetched, prefetch};

mod common;
use common::{batch, direct_log};

#[test]
fn a_buffer_left_idle_makes_room_for_an_active_reader() {
    // Room for one buffer of an 8 MiB fetch and the read-ahead past it, not two.
    prefetch::configure(1 << 20, 12 << 20);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = direct_log(da.path());
    let mut b = direct_log(db.path());
    let direct = pilgrimage_storage::direct::written_bytes();
    for i in 0..100 {
        a.append(&batch(10, i * 10, 10_000), 0, 0).unwrap();
        b.append(&batch(10, i * 10, 10_000), 0, 0).unwrap();
    }
    if pilgrimage_storage::direct::written_bytes() == direct {
        return; // this file system refuses O_DIRECT: everything is in the page cache
    }

    // A consumer of `a` reads 8 MiB, into a buffer that takes most of the budget, and stops.
    let (read, _) = a
        .read(0, 8 << 20, a.end(), true)
        .unwrap()
        .execute_to()
        .unwrap();
    assert!(Batches::new(&read).count() > 70);
    drop(read);
    let held = prefetch::memory_used();
    if held == 0 {
        return; // O_DIRECT accepted but the pages cached: read through the page cache
    }
    assert!(held > 8 << 20, "{held} bytes read ahead");
    // Longer than a buffer must go unused (and the one before it in its file) to be dropped.
    std::thread::sleep(Duration::from_millis(700));

    // A consumer of `b` needs the room: `a`'s idle buffer goes, `b`'s is read ahead.
    let (read, end) = b
        .read(0, 8 << 20, b.end(), true)
        .unwrap()
        .execute_to()
        .unwrap();
    assert!(prefetch::memory_used() <= 12 << 20);
    match b
        .read(0, 8 << 20, b.end(), true)
        .unwrap()
        .try_read_prefetched()
        .unwrap()
    {
        Prefetched::Read(again, e) => assert_eq!((again, e), (read, end)),
        other => panic!("the active reader's range must be read ahead, got {other:?}"),
    }
    assert!(
        matches!(
            a.read(0, 8 << 20, a.end(), true)
                .unwrap()
                .try_read_prefetched()
                .unwrap(),
            Prefetched::Disk
        ),
        "the idle buffer must have been dropped"
    );
}
