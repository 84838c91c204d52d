//! ConsumerGroupDescribe (key 69, v0-1): KIP-848 groups with members, assignments and targets.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse};

use super::s;
use crate::coordinator::group::assignor;
use crate::coordinator::group::consumer::state_name;
use crate::handlers::{Ctx, Handled, ops};

pub(crate) async fn handle(
    ctx: &Ctx,
    req: ConsumerGroupDescribeRequest,
) -> Handled<ConsumerGroupDescribeResponse> {
    let image = ctx.broker.controller.image();
    let name_of = |id: &uuid::Uuid| {
        image
            .topic_by_id(id)
            .map(|t| t.name.to_string())
            .unwrap_or_default()
    };
    let assignment = |a: &assignor::Assignment| {
        Assignment::default().with_topic_partitions(
            a.iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic_id(*t)
                        .with_topic_name(s(name_of(t)).into())
                        .with_partitions(ps.iter().copied().collect())
                })
                .collect(),
        )
    };
    let groups = req
        .group_ids
        .iter()
        .map(|id| {
            let out = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(ops::NOT_REQUESTED);
            if id.is_empty() {
                return out.with_error_code(ResponseError::InvalidGroupId.code());
            }
            let Some(g) = ctx.broker.groups.consumer_describe(id.as_str()) else {
                return out
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(s(format!("Group {} not found.", id.as_str()))));
            };
            let mut votes: std::collections::BTreeMap<&str, usize> =
                std::collections::BTreeMap::new();
            for m in g.members.values() {
                if let Some(a) = m.assignor.as_deref() {
                    *votes.entry(a).or_default() += 1;
                }
            }
            let assignor_name = votes
                .iter()
                .max_by_key(|(_, n)| **n)
                .map_or(assignor::UNIFORM, |(a, _)| *a)
                .to_string();
            let empty = assignor::Assignment::new();
            out.with_group_state(s(state_name(&g)))
                .with_group_epoch(g.group_epoch)
                .with_assignment_epoch(g.assignment_epoch)
                .with_assignor_name(s(assignor_name))
                .with_members(
                    g.members
                        .values()
                        .map(|m| {
                            Member::default()
                                .with_member_id(s(m.id.clone()))
                                .with_instance_id(m.instance_id.clone().map(s))
                                .with_rack_id(m.rack_id.clone().map(s))
                                .with_member_epoch(m.epoch)
                                .with_client_id(s(m.client_id.clone()))
                                .with_client_host(s(m.client_host.clone()))
                                .with_subscribed_topic_names(
                                    m.subscribed_names
                                        .iter()
                                        .map(|n| s(n.clone()).into())
                                        .collect(),
                                )
                                .with_subscribed_topic_regex(m.regex.clone().map(s))
                                .with_assignment(assignment(&m.assigned))
                                .with_target_assignment(assignment(
                                    g.target.get(&m.id).unwrap_or(&empty),
                                ))
                                .with_member_type(if ctx.version >= 1 { 1 } else { -1 })
                        })
                        .collect(),
                )
        })
        .collect();
    Handled::Now(ConsumerGroupDescribeResponse::default().with_groups(groups))
}
