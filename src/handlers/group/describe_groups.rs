//! DescribeGroups (key 15, v0-6): classic groups only; anything else is "Dead" (with
//! GROUP_ID_NOT_FOUND from v6), as in Kafka, where KIP-848 groups need ConsumerGroupDescribe.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::s;
use crate::handlers::{Ctx, Handled, ops};

/// Every group operation (READ, DELETE, DESCRIBE) without an authorizer.
const GROUP_OPS_ALL: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub(crate) async fn handle(
    ctx: &Ctx,
    req: DescribeGroupsRequest,
) -> Handled<DescribeGroupsResponse> {
    let groups = req
        .groups
        .iter()
        .map(|id| {
            // Kafka fills in the operations of every group answered without an error, the
            // "Dead" answer for an unknown group before v6 included: clients decode the field
            // as a bit set when they asked for it.
            let ops = if ctx.version >= 3 && req.include_authorized_operations {
                GROUP_OPS_ALL
            } else {
                ops::NOT_REQUESTED
            };
            let out = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(ops::NOT_REQUESTED);
            match ctx.broker.groups.describe(id.as_str()) {
                None => {
                    let out = out.with_group_state(s("Dead"));
                    if ctx.version >= 6 {
                        out.with_error_code(ResponseError::GroupIdNotFound.code())
                            .with_error_message(Some(s(format!(
                                "Group {} not found.",
                                id.as_str()
                            ))))
                    } else {
                        out.with_authorized_operations(ops)
                    }
                }
                Some(d) => out
                    .with_group_state(s(d.state))
                    .with_protocol_type(s(d.protocol_type))
                    .with_protocol_data(s(d.protocol))
                    .with_authorized_operations(ops)
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|m| {
                                DescribedGroupMember::default()
                                    .with_member_id(s(m.member_id))
                                    .with_group_instance_id(m.instance_id.map(s))
                                    .with_client_id(s(m.client_id))
                                    .with_client_host(s(m.client_host))
                                    .with_member_metadata(Bytes::from(m.metadata))
                                    .with_member_assignment(Bytes::from(m.assignment))
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    Handled::Now(DescribeGroupsResponse::default().with_groups(groups))
}
