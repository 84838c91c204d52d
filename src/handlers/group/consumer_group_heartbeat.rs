//! ConsumerGroupHeartbeat (key 68, v0-1): the KIP-848 protocol, with request checks as Kafka
//! makes them before touching the group.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use super::{client_host, client_id, s};
use crate::coordinator::group::assignor;
use crate::coordinator::group::consumer::HeartbeatInput;
use crate::handlers::{Ctx, Handled};

fn invalid(msg: &str) -> Handled<ConsumerGroupHeartbeatResponse> {
    Handled::Now(
        ConsumerGroupHeartbeatResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message(Some(s(msg))),
    )
}

pub(crate) async fn handle(
    ctx: &Ctx,
    req: ConsumerGroupHeartbeatRequest,
) -> Handled<ConsumerGroupHeartbeatResponse> {
    let blank = |o: &Option<kafka_protocol::protocol::StrBytes>| {
        o.as_ref().is_some_and(|x| x.trim().is_empty())
    };
    if req.group_id.trim().is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if blank(&req.instance_id) {
        return invalid("InstanceId can't be empty.");
    }
    if blank(&req.rack_id) {
        return invalid("RackId can't be empty.");
    }
    if req.member_epoch < -2 {
        return invalid("MemberEpoch is invalid.");
    }
    if req.member_id.trim().is_empty() && (ctx.version >= 1 || req.member_epoch != 0) {
        return invalid("MemberId can't be empty.");
    }
    if req.member_epoch == 0 {
        if req.rebalance_timeout_ms == -1 {
            return invalid("RebalanceTimeoutMs must be provided in first request.");
        }
        if req.topic_partitions.as_ref().is_none_or(|t| !t.is_empty()) {
            return invalid("TopicPartitions must be empty when (re-)joining.");
        }
        if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
            return invalid(
                "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
            );
        }
    }
    if req.member_epoch == -2 && req.instance_id.is_none() {
        return invalid("InstanceId can't be null.");
    }
    let groups = &ctx.broker.groups;
    if let Some(a) = &req.server_assignor
        && !groups
            .settings()
            .consumer_assignors
            .iter()
            .any(|x| x == a.as_str())
        && !assignor::ASSIGNORS.contains(&a.as_str())
    {
        return Handled::Now(
            ConsumerGroupHeartbeatResponse::default()
                .with_error_code(ResponseError::UnsupportedAssignor.code())
                .with_error_message(Some(s(format!(
                    "Assignor {} is not supported.",
                    a.as_str()
                )))),
        );
    }
    if let Some(re) = &req.subscribed_topic_regex
        && !re.is_empty()
        && regex::Regex::new(re.as_str()).is_err()
    {
        return Handled::Now(
            ConsumerGroupHeartbeatResponse::default()
                .with_error_code(ResponseError::InvalidRegularExpression.code())
                .with_error_message(Some(s(format!(
                    "SubscribedTopicRegex `{}` is not a valid regular expression.",
                    re.as_str()
                )))),
        );
    }
    let input = HeartbeatInput {
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.as_ref().map(|x| x.to_string()),
        rack_id: req.rack_id.as_ref().map(|x| x.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_names: req
            .subscribed_topic_names
            .as_ref()
            .map(|n| n.iter().map(|t| t.to_string()).collect()),
        regex: req.subscribed_topic_regex.as_ref().map(|r| r.to_string()),
        assignor: req.server_assignor.as_ref().map(|a| a.to_string()),
        owned: req.topic_partitions.as_ref().map(|tps| {
            tps.iter()
                .map(|tp| (tp.topic_id, tp.partitions.iter().copied().collect()))
                .collect()
        }),
        client_id: client_id(ctx),
        client_host: client_host(ctx),
    };
    let view = ctx.broker.topic_view();
    let resp = match groups.consumer_heartbeat(req.group_id.as_str(), input, &view) {
        Err((e, msg)) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(s(msg))),
        Ok(r) => {
            let leaving = r.member_epoch < 0;
            ConsumerGroupHeartbeatResponse::default()
                .with_member_id(Some(s(r.member_id)))
                .with_member_epoch(r.member_epoch)
                .with_heartbeat_interval_ms(if leaving {
                    0
                } else {
                    groups.settings().consumer_heartbeat_interval_ms
                })
                .with_assignment(r.assignment.map(|a| {
                    Assignment::default().with_topic_partitions(
                        a.into_iter()
                            .map(|(t, ps)| {
                                TopicPartitions::default()
                                    .with_topic_id(t)
                                    .with_partitions(ps.into_iter().collect())
                            })
                            .collect(),
                    )
                }))
        }
    };
    Handled::Now(resp)
}
