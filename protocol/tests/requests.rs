//! Property tests of the request path: whatever bytes arrive, framing, header parsing, the
//! structure check and kafka-protocol's decoders return an error or a value, never a panic, and
//! never an allocation the frame could not pay for (the check bounds every count first).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind};
use pilgrimage_protocol::request;
use proptest::prelude::*;

fn keys() -> Vec<ApiKey> {
    ApiKey::iter().collect()
}

/// Decodes a checked body with the decoder the node would use.
fn decode(key: ApiKey, version: i16, body: Bytes) {
    let Ok(checked) = request::check(key as i16, version, body) else {
        return;
    };
    let mut b = checked.body;
    let _ = RequestKind::decode(key, &mut b, version);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn random_bodies(key in proptest::sample::select(keys()), version in -1i16..20, body in proptest::collection::vec(any::<u8>(), 0..300)) {
        decode(key, version, Bytes::from(body));
    }

    #[test]
    fn random_frames(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = pilgrimage_protocol::fuzz::frame(&data);
    }

    #[test]
    fn mutated_valid_requests(key in proptest::sample::select(keys()), pick: prop::sample::Index, flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let range = key.valid_versions();
        let version = range.min + (pick.index((range.max - range.min + 1) as usize) as i16);
        let Some(body) = default_body(key, version) else { return Ok(()) };
        let mut body = body.to_vec();
        if body.is_empty() { return Ok(()) }
        for (at, x) in flips {
            let i = at.index(body.len());
            body[i] ^= x;
        }
        decode(key, version, Bytes::from(body));
    }
}

/// The encoding of a default request of `key` at `version`.
fn default_body(key: ApiKey, version: i16) -> Option<Bytes> {
    let kind = default_kind(key)?;
    let mut buf = BytesMut::new();
    kind.encode(&mut buf, version).ok()?;
    Some(buf.freeze())
}

#[allow(unreachable_patterns)] // every key today; new kafka-protocol keys fall through
fn default_kind(key: ApiKey) -> Option<RequestKind> {
    use kafka_protocol::messages::*;
    Some(match key {
        ApiKey::Produce => RequestKind::Produce(ProduceRequest::default()),
        ApiKey::Fetch => RequestKind::Fetch(FetchRequest::default()),
        ApiKey::ListOffsets => RequestKind::ListOffsets(ListOffsetsRequest::default()),
        ApiKey::Metadata => RequestKind::Metadata(MetadataRequest::default()),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(OffsetCommitRequest::default()),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(OffsetFetchRequest::default()),
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(FindCoordinatorRequest::default()),
        ApiKey::JoinGroup => RequestKind::JoinGroup(JoinGroupRequest::default()),
        ApiKey::Heartbeat => RequestKind::Heartbeat(HeartbeatRequest::default()),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(LeaveGroupRequest::default()),
        ApiKey::SyncGroup => RequestKind::SyncGroup(SyncGroupRequest::default()),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(DescribeGroupsRequest::default()),
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::SaslHandshake => RequestKind::SaslHandshake(SaslHandshakeRequest::default()),
        ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ApiKey::CreateTopics => RequestKind::CreateTopics(CreateTopicsRequest::default()),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(DeleteTopicsRequest::default()),
        ApiKey::DeleteRecords => RequestKind::DeleteRecords(DeleteRecordsRequest::default()),
        ApiKey::InitProducerId => RequestKind::InitProducerId(InitProducerIdRequest::default()),
        ApiKey::OffsetForLeaderEpoch => {
            RequestKind::OffsetForLeaderEpoch(OffsetForLeaderEpochRequest::default())
        }
        ApiKey::AddPartitionsToTxn => {
            RequestKind::AddPartitionsToTxn(AddPartitionsToTxnRequest::default())
        }
        ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(AddOffsetsToTxnRequest::default()),
        ApiKey::EndTxn => RequestKind::EndTxn(EndTxnRequest::default()),
        ApiKey::WriteTxnMarkers => RequestKind::WriteTxnMarkers(WriteTxnMarkersRequest::default()),
        ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(TxnOffsetCommitRequest::default()),
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(DescribeAclsRequest::default()),
        ApiKey::CreateAcls => RequestKind::CreateAcls(CreateAclsRequest::default()),
        ApiKey::DeleteAcls => RequestKind::DeleteAcls(DeleteAclsRequest::default()),
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(DescribeConfigsRequest::default()),
        ApiKey::AlterConfigs => RequestKind::AlterConfigs(AlterConfigsRequest::default()),
        ApiKey::AlterReplicaLogDirs => {
            RequestKind::AlterReplicaLogDirs(AlterReplicaLogDirsRequest::default())
        }
        ApiKey::DescribeLogDirs => RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default()),
        ApiKey::SaslAuthenticate => {
            RequestKind::SaslAuthenticate(SaslAuthenticateRequest::default())
        }
        ApiKey::CreatePartitions => {
            RequestKind::CreatePartitions(CreatePartitionsRequest::default())
        }
        ApiKey::CreateDelegationToken => {
            RequestKind::CreateDelegationToken(CreateDelegationTokenRequest::default())
        }
        ApiKey::RenewDelegationToken => {
            RequestKind::RenewDelegationToken(RenewDelegationTokenRequest::default())
        }
        ApiKey::ExpireDelegationToken => {
            RequestKind::ExpireDelegationToken(ExpireDelegationTokenRequest::default())
        }
        ApiKey::DescribeDelegationToken => {
            RequestKind::DescribeDelegationToken(DescribeDelegationTokenRequest::default())
        }
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(DeleteGroupsRequest::default()),
        ApiKey::ElectLeaders => RequestKind::ElectLeaders(ElectLeadersRequest::default()),
        ApiKey::IncrementalAlterConfigs => {
            RequestKind::IncrementalAlterConfigs(IncrementalAlterConfigsRequest::default())
        }
        ApiKey::AlterPartitionReassignments => {
            RequestKind::AlterPartitionReassignments(AlterPartitionReassignmentsRequest::default())
        }
        ApiKey::ListPartitionReassignments => {
            RequestKind::ListPartitionReassignments(ListPartitionReassignmentsRequest::default())
        }
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(OffsetDeleteRequest::default()),
        ApiKey::DescribeClientQuotas => {
            RequestKind::DescribeClientQuotas(DescribeClientQuotasRequest::default())
        }
        ApiKey::AlterClientQuotas => {
            RequestKind::AlterClientQuotas(AlterClientQuotasRequest::default())
        }
        ApiKey::DescribeUserScramCredentials => {
            RequestKind::DescribeUserScramCredentials(DescribeUserScramCredentialsRequest::default())
        }
        ApiKey::AlterUserScramCredentials => {
            RequestKind::AlterUserScramCredentials(AlterUserScramCredentialsRequest::default())
        }
        ApiKey::Vote => RequestKind::Vote(VoteRequest::default()),
        ApiKey::BeginQuorumEpoch => {
            RequestKind::BeginQuorumEpoch(BeginQuorumEpochRequest::default())
        }
        ApiKey::EndQuorumEpoch => RequestKind::EndQuorumEpoch(EndQuorumEpochRequest::default()),
        ApiKey::DescribeQuorum => RequestKind::DescribeQuorum(DescribeQuorumRequest::default()),
        ApiKey::AlterPartition => RequestKind::AlterPartition(AlterPartitionRequest::default()),
        ApiKey::UpdateFeatures => RequestKind::UpdateFeatures(UpdateFeaturesRequest::default()),
        ApiKey::Envelope => RequestKind::Envelope(EnvelopeRequest::default()),
        ApiKey::FetchSnapshot => RequestKind::FetchSnapshot(FetchSnapshotRequest::default()),
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(DescribeClusterRequest::default()),
        ApiKey::DescribeProducers => {
            RequestKind::DescribeProducers(DescribeProducersRequest::default())
        }
        ApiKey::BrokerRegistration => {
            RequestKind::BrokerRegistration(BrokerRegistrationRequest::default())
        }
        ApiKey::BrokerHeartbeat => RequestKind::BrokerHeartbeat(BrokerHeartbeatRequest::default()),
        ApiKey::UnregisterBroker => {
            RequestKind::UnregisterBroker(UnregisterBrokerRequest::default())
        }
        ApiKey::DescribeTransactions => {
            RequestKind::DescribeTransactions(DescribeTransactionsRequest::default())
        }
        ApiKey::ListTransactions => {
            RequestKind::ListTransactions(ListTransactionsRequest::default())
        }
        ApiKey::AllocateProducerIds => {
            RequestKind::AllocateProducerIds(AllocateProducerIdsRequest::default())
        }
        ApiKey::ConsumerGroupHeartbeat => {
            RequestKind::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest::default())
        }
        ApiKey::ConsumerGroupDescribe => {
            RequestKind::ConsumerGroupDescribe(ConsumerGroupDescribeRequest::default())
        }
        ApiKey::ControllerRegistration => {
            RequestKind::ControllerRegistration(ControllerRegistrationRequest::default())
        }
        ApiKey::GetTelemetrySubscriptions => {
            RequestKind::GetTelemetrySubscriptions(GetTelemetrySubscriptionsRequest::default())
        }
        ApiKey::PushTelemetry => RequestKind::PushTelemetry(PushTelemetryRequest::default()),
        ApiKey::AssignReplicasToDirs => {
            RequestKind::AssignReplicasToDirs(AssignReplicasToDirsRequest::default())
        }
        ApiKey::ListConfigResources => {
            RequestKind::ListConfigResources(ListConfigResourcesRequest::default())
        }
        ApiKey::DescribeTopicPartitions => {
            RequestKind::DescribeTopicPartitions(DescribeTopicPartitionsRequest::default())
        }
        ApiKey::ShareGroupHeartbeat => {
            RequestKind::ShareGroupHeartbeat(ShareGroupHeartbeatRequest::default())
        }
        ApiKey::ShareGroupDescribe => {
            RequestKind::ShareGroupDescribe(ShareGroupDescribeRequest::default())
        }
        ApiKey::ShareFetch => RequestKind::ShareFetch(ShareFetchRequest::default()),
        ApiKey::ShareAcknowledge => {
            RequestKind::ShareAcknowledge(ShareAcknowledgeRequest::default())
        }
        ApiKey::AddRaftVoter => RequestKind::AddRaftVoter(AddRaftVoterRequest::default()),
        ApiKey::RemoveRaftVoter => RequestKind::RemoveRaftVoter(RemoveRaftVoterRequest::default()),
        ApiKey::UpdateRaftVoter => RequestKind::UpdateRaftVoter(UpdateRaftVoterRequest::default()),
        ApiKey::InitializeShareGroupState => {
            RequestKind::InitializeShareGroupState(InitializeShareGroupStateRequest::default())
        }
        ApiKey::ReadShareGroupState => {
            RequestKind::ReadShareGroupState(ReadShareGroupStateRequest::default())
        }
        ApiKey::WriteShareGroupState => {
            RequestKind::WriteShareGroupState(WriteShareGroupStateRequest::default())
        }
        ApiKey::DeleteShareGroupState => {
            RequestKind::DeleteShareGroupState(DeleteShareGroupStateRequest::default())
        }
        ApiKey::ReadShareGroupStateSummary => {
            RequestKind::ReadShareGroupStateSummary(ReadShareGroupStateSummaryRequest::default())
        }
        ApiKey::DescribeShareGroupOffsets => {
            RequestKind::DescribeShareGroupOffsets(DescribeShareGroupOffsetsRequest::default())
        }
        ApiKey::AlterShareGroupOffsets => {
            RequestKind::AlterShareGroupOffsets(AlterShareGroupOffsetsRequest::default())
        }
        ApiKey::DeleteShareGroupOffsets => {
            RequestKind::DeleteShareGroupOffsets(DeleteShareGroupOffsetsRequest::default())
        }
        _ => return None,
    })
}

#[test]
fn every_default_request_passes_the_check_and_decodes() {
    for key in keys() {
        let range = key.valid_versions();
        for version in range.min..=range.max {
            let Some(body) = default_body(key, version) else {
                continue;
            };
            let checked = request::check(key as i16, version, body)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
            let mut b = checked.body;
            RequestKind::decode(key, &mut b, version)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
        }
    }
}

/// Found by the `request` fuzz target: a BrokerHeartbeat whose tagged field 0 declared more
/// bytes than its array used. kafka-protocol decodes tagged fields from the main buffer, so it
/// read the leftover bytes as further tags that the structure check had skipped, and sized a
/// Vec from them: an abort on allocation. The check now requires known tagged fields to fill
/// their declared size exactly.
#[test]
fn tagged_field_shorter_than_its_size_is_refused() {
    const CRASH: &str = concat!(
        "000000d0003f000100310400f90001310000080700510100000000000000000000400000001a00020007010000ffffff",
        "ffffffff3792001a00020007010000fdb811010101010101010301f58100010001ffffffe1e1e1e1e1e1e1e1e1e1e1e1",
        "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e0e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1",
        "e1e1000000e1e1e1e1e107000100ffffff0700010000020202020202020202feff000000000202026302020200000010",
        "004cf93c000010000016000b2500000000000000000001000000000000",
    );
    let bytes: Vec<u8> = (0..CRASH.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&CRASH[i..i + 2], 16).unwrap())
        .collect();
    assert!(
        pilgrimage_protocol::fuzz::frame(&bytes).is_none(),
        "the structure check refuses it"
    );
}
