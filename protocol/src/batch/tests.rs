use proptest::prelude::*;

use super::records::RecordIter;
use super::validate::{ValidationOptions, first_at_or_after, validate_produce};
use super::view::{self, BatchView};
use super::{BatchBuilder, NewRecord};
use crate::codec::{self, Compression};
use crate::error::BatchError;

fn opts() -> ValidationOptions {
    ValidationOptions {
        max_batch_bytes: 1 << 24,
        require_keys: false,
        timestamp_window: None,
        records: true,
    }
}

type Rec = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Option<Vec<u8>>)>,
);

fn build(codec: Compression, recs: &[Rec]) -> Vec<u8> {
    let mut b = BatchBuilder::new(codec);
    for (ts, k, v, hs) in recs {
        let headers: Vec<(&[u8], Option<&[u8]>)> = hs
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        b.push(NewRecord {
            timestamp: *ts,
            key: k.as_deref(),
            value: v.as_deref(),
            headers: &headers,
        });
    }
    b.build().unwrap()
}

fn records_of(batch: &[u8]) -> Vec<Rec> {
    let (view, _) = BatchView::parse(batch, 0).unwrap();
    let h = *view.header();
    let body =
        codec::decompress_to_vec(h.compression().unwrap(), view.records_bytes(), 1 << 26).unwrap();
    RecordIter::new(&body)
        .map(|r| {
            let r = r.unwrap();
            (
                h.base_timestamp + r.timestamp_delta,
                r.key.map(<[u8]>::to_vec),
                r.value.map(<[u8]>::to_vec),
                r.headers
                    .iter()
                    .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                    .collect(),
            )
        })
        .collect()
}

fn rec_strategy() -> impl Strategy<Value = Rec> {
    (
        0i64..2_000_000_000_000,
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..10),
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)),
            ),
            0..3,
        ),
    )
}

fn codec_strategy() -> impl Strategy<Value = Compression> {
    proptest::sample::select(Compression::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn built_batches_validate_and_round_trip(codec in codec_strategy(), recs in proptest::collection::vec(rec_strategy(), 1..40)) {
        let batch = build(codec, &recs);
        let view = validate_produce(&batch, &opts()).unwrap();
        prop_assert_eq!(view.header().records_count as usize, recs.len());
        prop_assert_eq!(records_of(&batch), recs);
    }

    #[test]
    fn any_flipped_byte_inside_the_crc_is_caught(codec in codec_strategy(), recs in proptest::collection::vec(rec_strategy(), 1..5), pick: prop::sample::Index, bit in 0u8..8) {
        let mut batch = build(codec, &recs);
        let at = view::ATTRIBUTES + pick.index(batch.len() - view::ATTRIBUTES);
        batch[at] ^= 1 << bit;
        prop_assert!(validate_produce(&batch, &opts()).is_err());
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = validate_produce(&bytes, &opts());
    }

    #[test]
    fn garbage_records_with_a_valid_crc_never_panic(codec in codec_strategy(), body in proptest::collection::vec(any::<u8>(), 0..400), count in -2i32..50) {
        // A well-formed header and CRC around arbitrary records: every check past the CRC runs.
        let mut batch = build(Compression::None, &[(1, None, Some(vec![1]), vec![])]);
        batch.truncate(view::HEADER_BYTES);
        batch.extend_from_slice(&body);
        let len = (batch.len() - view::LOG_OVERHEAD) as i32;
        batch[view::BATCH_LENGTH..view::BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
        batch[view::RECORDS_COUNT..view::RECORDS_COUNT + 4].copy_from_slice(&count.to_be_bytes());
        batch[view::LAST_OFFSET_DELTA..view::LAST_OFFSET_DELTA + 4].copy_from_slice(&(count - 1).to_be_bytes());
        let attrs = codec.id();
        batch[view::ATTRIBUTES..view::ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
        view::rewrite_crc(&mut batch);
        let _ = validate_produce(&batch, &opts());
    }
}

#[test]
fn wrong_crc_is_reported() {
    let mut batch = build(
        Compression::None,
        &[(5, Some(b"k".to_vec()), Some(b"v".to_vec()), vec![])],
    );
    let last = batch.len() - 1;
    batch[last] ^= 0xff;
    assert!(matches!(
        validate_produce(&batch, &opts()),
        Err(BatchError::Crc { .. })
    ));
}

#[test]
fn truncated_batch_is_reported() {
    let batch = build(Compression::Lz4, &[(5, None, Some(vec![7; 100]), vec![])]);
    for cut in [0, 10, 60, batch.len() - 1] {
        assert!(
            validate_produce(&batch[..cut], &opts()).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn two_batches_in_one_produce_are_refused() {
    let mut two = build(Compression::None, &[(5, None, Some(vec![1]), vec![])]);
    two.extend(build(
        Compression::None,
        &[(6, None, Some(vec![2]), vec![])],
    ));
    assert!(validate_produce(&two, &opts()).is_err());
}

#[test]
fn keyless_records_are_refused_on_compacted_topics() {
    let batch = build(
        Compression::Zstd,
        &[
            (5, Some(b"k".to_vec()), None, vec![]),
            (6, None, Some(vec![1]), vec![]),
        ],
    );
    let mut o = opts();
    o.require_keys = true;
    assert_eq!(
        validate_produce(&batch, &o).unwrap_err(),
        BatchError::MissingKey { index: 1 }
    );
}

#[test]
fn batches_are_checked_by_their_header_unless_records_are_asked_for() {
    let mut batch = build(Compression::Lz4, &[(5, None, Some(vec![7; 100]), vec![])]);
    // Garbage in the compressed records, under a CRC that matches it: only the producer's
    // bytes are stored, which a header check accepts and a record walk refuses.
    let body_at = view::HEADER_BYTES;
    for b in &mut batch[body_at..] {
        *b = 0xAB;
    }
    view::rewrite_crc(&mut batch);
    let mut o = opts();
    assert!(validate_produce(&batch, &o).is_err());
    o.records = false;
    validate_produce(&batch, &o).unwrap();
    // Keys are needed on compacted topics: the records are walked whatever the option says.
    o.require_keys = true;
    assert!(validate_produce(&batch, &o).is_err());
    // Timestamps are checked on the batch's first and largest.
    o.require_keys = false;
    o.timestamp_window = Some(super::validate::TimestampWindow {
        now_ms: 1_000_000,
        before_max_ms: 1000,
        after_max_ms: 1000,
    });
    assert!(matches!(
        validate_produce(&batch, &o),
        Err(BatchError::Timestamp { timestamp: 5, .. })
    ));
    // The same for an uncompressed batch: its records are walked only when asked for.
    let mut plain = build(Compression::None, &[(5, None, Some(vec![7; 100]), vec![])]);
    plain[view::HEADER_BYTES] = 0x7f; // a record length that overruns the batch
    view::rewrite_crc(&mut plain);
    let mut o = opts();
    assert!(validate_produce(&plain, &o).is_err());
    o.records = false;
    validate_produce(&plain, &o).unwrap();
}

#[test]
fn oversized_batch_is_refused() {
    let batch = build(Compression::None, &[(5, None, Some(vec![0; 2000]), vec![])]);
    let mut o = opts();
    o.max_batch_bytes = 1000;
    assert!(matches!(
        validate_produce(&batch, &o),
        Err(BatchError::TooLarge { .. })
    ));
}

#[test]
fn recompression_keeps_records_and_header() {
    let recs: Vec<Rec> = (0..500)
        .map(|i| {
            (
                1000 + i,
                Some(format!("k{i}").into_bytes()),
                Some(vec![i as u8; 50]),
                vec![],
            )
        })
        .collect();
    for from in Compression::ALL {
        let batch = build(from, &recs);
        let (view, _) = BatchView::parse(&batch, 0).unwrap();
        for to in Compression::ALL {
            let out = super::builder::recompress(&view, to, 1 << 26).unwrap();
            let v2 = validate_produce(&out, &opts()).unwrap();
            assert_eq!(v2.header().compression().unwrap(), to);
            assert_eq!(records_of(&out), recs);
        }
    }
}

#[test]
fn timestamp_search_finds_first_record_at_or_after() {
    let recs: Vec<Rec> = [10, 30, 20, 40]
        .iter()
        .map(|&t| (t, None, Some(vec![1]), vec![]))
        .collect();
    for codec in Compression::ALL {
        let mut batch = build(codec, &recs);
        view::set_base_offset(&mut batch, 100);
        let (view, _) = BatchView::parse(&batch, 0).unwrap();
        assert_eq!(first_at_or_after(&view, 25, 0).unwrap(), Some((101, 30)));
        assert_eq!(first_at_or_after(&view, 10, 0).unwrap(), Some((100, 10)));
        assert_eq!(first_at_or_after(&view, 41, 0).unwrap(), None);
        // After DeleteRecords moved the log start into the batch.
        assert_eq!(first_at_or_after(&view, 10, 102).unwrap(), Some((102, 20)));
        assert_eq!(
            super::validate::max_timestamp_record(&view, 0).unwrap(),
            Some((103, 40))
        );
        assert_eq!(
            super::validate::max_timestamp_record(&view, 104).unwrap(),
            None
        );
    }
}

#[test]
fn filtering_keeps_offsets_timestamps_and_producer_fields() {
    use super::builder::{Filtered, filter_batch};
    let recs: Vec<Rec> = (0..10)
        .map(|i| {
            (
                5000 + i * 3,
                Some(format!("k{i}").into_bytes()),
                (i % 4 != 0).then(|| vec![i as u8; 8]),
                vec![],
            )
        })
        .collect();
    for codec in Compression::ALL {
        let mut b = BatchBuilder::new(codec).producer(42, 3, 100);
        for (ts, k, v, _) in &recs {
            b.push(NewRecord {
                timestamp: *ts,
                key: k.as_deref(),
                value: v.as_deref(),
                headers: &[],
            });
        }
        let mut batch = b.build().unwrap();
        view::set_base_offset(&mut batch, 1000);
        let (v, _) = BatchView::parse(&batch, 0).unwrap();
        assert_eq!(
            filter_batch(&v, 1 << 20, None, |_, _| true).unwrap(),
            Filtered::All
        );
        assert_eq!(
            filter_batch(&v, 1 << 20, None, |_, _| false).unwrap(),
            Filtered::Nothing
        );
        for horizon in [None, Some(99_999)] {
            let Filtered::Rewritten(out) =
                filter_batch(&v, 1 << 20, horizon, |o, _| o % 2 == 1).unwrap()
            else {
                panic!("rewritten")
            };
            let (f, _) = BatchView::parse(&out, 0).unwrap();
            f.verify().unwrap();
            let h = f.header();
            assert_eq!(
                (h.base_offset, h.last_offset()),
                (1000, 1009),
                "offsets do not move"
            );
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (42, 3, 100)
            );
            assert_eq!(h.records_count, 5);
            assert_eq!(h.compression().unwrap(), codec);
            assert_eq!(
                h.attributes & view::ATTR_DELETE_HORIZON != 0,
                horizon.is_some()
            );
            let body = codec::decompress_to_vec(codec, f.records_bytes(), 1 << 20).unwrap();
            let got: Vec<(i64, i64)> = RecordIter::new(&body)
                .map(|r| {
                    let r = r.unwrap();
                    (
                        h.base_offset + i64::from(r.offset_delta),
                        h.base_timestamp + r.timestamp_delta,
                    )
                })
                .collect();
            let want: Vec<(i64, i64)> = (0..10)
                .filter(|i| i % 2 == 1)
                .map(|i| (1000 + i, 5000 + i * 3))
                .collect();
            assert_eq!(got, want, "record timestamps survive a delete horizon");
            assert_eq!(h.max_timestamp, 5000 + 9 * 3);
        }
    }
}
