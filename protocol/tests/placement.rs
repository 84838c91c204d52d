//! `placement::first_records` against produce requests encoded by kafka-protocol: whatever the
//! version, client id, transactional id and topic, it finds exactly the bytes the full decoder
//! returns as the first partition's records, and on any prefix of the frame it returns those
//! or nothing, never a wrong place.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use pilgrimage_protocol::placement::{TopicRef, first_records};
use proptest::prelude::*;

#[allow(clippy::too_many_arguments)] // one per part of the request a test varies
fn frame(
    version: i16,
    tagged: u8,
    client_id: Option<String>,
    txn: Option<String>,
    topic: &str,
    id: [u8; 16],
    partition: i32,
    records: Vec<u8>,
) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(client_id.map(StrBytes::from_string))
        // Header tagged fields (v9+), as a newer client could send: skipped by size.
        .with_unknown_tagged_fields(
            (0..tagged)
                .map(|t| (100 + t as i32, Bytes::from(vec![t; 3 + t as usize])))
                .collect(),
        );
    let req = ProduceRequest::default()
        .with_transactional_id(txn.map(|t| StrBytes::from_string(t).into()))
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_topic_id(uuid::Uuid::from_bytes(id))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(Bytes::from(records))),
                    PartitionProduceData::default()
                        .with_index(partition + 1)
                        .with_records(Some(Bytes::from_static(b"second"))),
                ]),
        ]);
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, ApiKey::Produce.request_header_version(version))
        .unwrap();
    req.encode(&mut buf, version).unwrap();
    buf.to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn finds_the_first_partitions_records(
        version in 3i16..=13,
        tagged in 0u8..3,
        client_id in proptest::option::of("[a-z0-9-]{0,40}"),
        txn in proptest::option::of("[a-z0-9-]{0,40}"),
        topic in "[a-zA-Z0-9._-]{1,249}",
        id in any::<[u8; 16]>(),
        partition in 0i32..100_000,
        records in proptest::collection::vec(any::<u8>(), 0..3000),
        cut in any::<prop::sample::Index>(),
    ) {
        let tagged = if version >= 9 { tagged } else { 0 };
        let f = frame(version, tagged, client_id, txn, &topic, id, partition, records.clone());
        let at = first_records(&f).expect("a produce request's records are found");
        prop_assert_eq!(at.partition, partition);
        prop_assert_eq!(at.len, records.len());
        prop_assert_eq!(&f[at.offset..at.offset + at.len], &records[..]);
        if version >= 13 {
            prop_assert_eq!(at.topic, TopicRef::Id(id));
        } else {
            prop_assert_eq!(at.topic, TopicRef::Name(&topic));
        }
        // A prefix (what the node has read so far) gives the same answer or none.
        let prefix = &f[..cut.index(f.len() + 1)];
        if let Some(p) = first_records(prefix) {
            prop_assert_eq!(p, at);
        }
    }

    #[test]
    fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = first_records(&data);
    }

    /// Random bytes after a produce request's key and a version this reads, so that the parse
    /// gets past the first check.
    #[test]
    fn never_panics_past_the_version(version in 0i16..16, data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut f = vec![0, 0];
        f.extend_from_slice(&version.to_be_bytes());
        f.extend_from_slice(&data);
        if let Some(at) = first_records(&f) {
            prop_assert!(at.offset <= f.len());
        }
    }
}

#[test]
fn other_requests_and_old_versions_are_not_placed() {
    let mut f = frame(3, 0, None, None, "t", [0; 16], 0, vec![1, 2, 3]);
    assert!(first_records(&f).is_some());
    f[3] = 2; // version 2: no transactional id, not placed
    assert_eq!(first_records(&f), None);
    let mut g = frame(9, 1, None, None, "t", [0; 16], 0, vec![1, 2, 3]);
    g[1] = 1; // Fetch
    assert_eq!(first_records(&g), None);
}
