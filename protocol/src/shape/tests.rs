//! The layout table must agree with kafka-protocol's encoders: every request they encode, at
//! every version, must walk to its last byte; and nothing that does not fit may pass.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, Message, StrBytes};
use proptest::prelude::*;

use super::{Walker, schema};

/// Walks `body` and returns how many bytes the walk consumed.
fn walk_len(api_key: i16, version: i16, body: &[u8]) -> Result<usize, crate::DecodeError> {
    let msg = schema::message(api_key).unwrap();
    let mut w = Walker {
        buf: body,
        pos: 0,
        elements: 0,
        version,
        flexible: version >= msg.flexible_from,
    };
    w.fields(msg.fields)?;
    Ok(w.pos)
}

fn assert_walks<T: Encodable + Message>(key: ApiKey, value: &T) -> usize {
    let mut checked = 0;
    for version in T::VERSIONS.min..=T::VERSIONS.max {
        let mut buf = BytesMut::new();
        if value.encode(&mut buf, version).is_err() {
            continue; // a field set that this version lacks
        }
        let walked = walk_len(key as i16, version, &buf)
            .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
        assert_eq!(
            walked,
            buf.len(),
            "{key:?} v{version} walked {walked} of {} bytes",
            buf.len()
        );
        // Every strict prefix must fail the walk or leave bytes unaccounted: never read past.
        for cut in 0..buf.len() {
            if let Ok(n) = walk_len(key as i16, version, &buf[..cut]) {
                assert!(n <= cut);
            }
        }
        checked += 1;
    }
    checked
}

macro_rules! defaults_walk {
    ($($key:ident => $ty:ty),* $(,)?) => {{
        $( assert!(assert_walks(ApiKey::$key, &<$ty>::default()) > 0, stringify!($key)); )*
    }};
}

#[test]
fn default_requests_of_every_api_walk_exactly() {
    defaults_walk!(
        Produce => ProduceRequest, Fetch => FetchRequest, ListOffsets => ListOffsetsRequest,
        Metadata => MetadataRequest, OffsetCommit => OffsetCommitRequest, OffsetFetch => OffsetFetchRequest,
        FindCoordinator => FindCoordinatorRequest, JoinGroup => JoinGroupRequest, Heartbeat => HeartbeatRequest,
        LeaveGroup => LeaveGroupRequest, SyncGroup => SyncGroupRequest, DescribeGroups => DescribeGroupsRequest,
        ListGroups => ListGroupsRequest, SaslHandshake => SaslHandshakeRequest, ApiVersions => ApiVersionsRequest,
        CreateTopics => CreateTopicsRequest, DeleteTopics => DeleteTopicsRequest, DeleteRecords => DeleteRecordsRequest,
        InitProducerId => InitProducerIdRequest, OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
        AddPartitionsToTxn => AddPartitionsToTxnRequest, AddOffsetsToTxn => AddOffsetsToTxnRequest,
        EndTxn => EndTxnRequest, WriteTxnMarkers => WriteTxnMarkersRequest, TxnOffsetCommit => TxnOffsetCommitRequest,
        DescribeAcls => DescribeAclsRequest, CreateAcls => CreateAclsRequest, DeleteAcls => DeleteAclsRequest,
        DescribeConfigs => DescribeConfigsRequest, AlterConfigs => AlterConfigsRequest,
        DescribeLogDirs => DescribeLogDirsRequest, SaslAuthenticate => SaslAuthenticateRequest,
        CreatePartitions => CreatePartitionsRequest, DeleteGroups => DeleteGroupsRequest,
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest, OffsetDelete => OffsetDeleteRequest,
        DescribeCluster => DescribeClusterRequest, DescribeProducers => DescribeProducersRequest,
        DescribeTransactions => DescribeTransactionsRequest, ListTransactions => ListTransactionsRequest,
        ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest, ConsumerGroupDescribe => ConsumerGroupDescribeRequest,
        DescribeTopicPartitions => DescribeTopicPartitionsRequest, DescribeUserScramCredentials => DescribeUserScramCredentialsRequest,
        AlterUserScramCredentials => AlterUserScramCredentialsRequest, ElectLeaders => ElectLeadersRequest,
    );
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

#[test]
fn populated_requests_walk_exactly() {
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(3000)
        .with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(s("t").into())
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from_static(b"0123456789"))),
                    produce_request::PartitionProduceData::default()
                        .with_index(1)
                        .with_records(None),
                ]),
        ]);
    assert!(assert_walks(ApiKey::Produce, &produce) > 0);

    let fetch = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(s("abc").into())
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_partition(3)
                        .with_fetch_offset(42),
                ]),
        ])
        .with_forgotten_topics_data(vec![
            fetch_request::ForgottenTopic::default()
                .with_topic(s("x").into())
                .with_partitions(vec![1, 2, 3]),
        ])
        .with_rack_id(s("rack"));
    assert!(assert_walks(ApiKey::Fetch, &fetch) > 0);
    let fetch_replica = FetchRequest::default()
        .with_replica_state(
            fetch_request::ReplicaState::default()
                .with_replica_id(3.into())
                .with_replica_epoch(7),
        )
        .with_cluster_id(Some(s("c")));
    assert!(assert_walks(ApiKey::Fetch, &fetch_replica) > 0);

    let metadata = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(s("a").into())),
        metadata_request::MetadataRequestTopic::default().with_name(Some(s("bb").into())),
    ]));
    assert!(assert_walks(ApiKey::Metadata, &metadata) > 0);

    let create = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(s("t").into())
            .with_num_partitions(3)
            .with_replication_factor(1)
            .with_configs(vec![
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("1000"))),
            ])
            .with_assignments(vec![
                create_topics_request::CreatableReplicaAssignment::default()
                    .with_partition_index(0)
                    .with_broker_ids(vec![1.into(), 2.into()]),
            ]),
    ]);
    assert!(assert_walks(ApiKey::CreateTopics, &create) > 0);

    let describe = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("t"))
            .with_configuration_keys(Some(vec![s("a"), s("b")])),
    ]);
    assert!(assert_walks(ApiKey::DescribeConfigs, &describe) > 0);

    let list = ListOffsetsRequest::default().with_topics(vec![
        list_offsets_request::ListOffsetsTopic::default()
            .with_name(s("t").into())
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1),
            ]),
    ]);
    assert!(assert_walks(ApiKey::ListOffsets, &list) > 0);

    let dtp = DescribeTopicPartitionsRequest::default().with_cursor(Some(
        describe_topic_partitions_request::Cursor::default()
            .with_topic_name(s("t").into())
            .with_partition_index(2),
    ));
    assert!(assert_walks(ApiKey::DescribeTopicPartitions, &dtp) > 0);

    let versions = ApiVersionsRequest::default()
        .with_client_software_name(s("x"))
        .with_client_software_version(s("1.0"));
    assert!(assert_walks(ApiKey::ApiVersions, &versions) > 0);
}

#[test]
fn huge_array_counts_are_refused_before_decoding() {
    // Metadata v0: topics array count 2^31-1 with no elements behind it.
    let body = i32::MAX.to_be_bytes();
    assert!(matches!(
        super::check(3, 0, &body),
        Err(crate::DecodeError::ArrayTooLong { .. })
    ));
    // Metadata v12 (flexible): compact count 2^32-2.
    let body = [0xff, 0xff, 0xff, 0xff, 0x0f];
    assert!(super::check(3, 12, &body).is_err());
}

proptest! {
    #[test]
    fn random_bodies_never_panic(key in 0i16..80, version in 0i16..20, body in proptest::collection::vec(any::<u8>(), 0..200)) {
        if schema::message(key).is_some() {
            let _ = super::check(key, version, &body);
        }
    }
}
