//! LeaveGroup (key 13, v0-5): one member (v0-2) or several (v3+), with per-member errors.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::{code, s};
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: LeaveGroupRequest) -> Handled<LeaveGroupResponse> {
    let members: Vec<(String, Option<String>)> = if ctx.version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|i| i.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let resp = match ctx.broker.groups.leave(req.group_id.as_str(), &members) {
        Err(e) => LeaveGroupResponse::default().with_error_code(e.code()),
        Ok(errors) if ctx.version >= 3 => LeaveGroupResponse::default().with_members(
            members
                .into_iter()
                .zip(errors)
                .map(|((id, instance), e)| {
                    MemberResponse::default()
                        .with_member_id(s(id))
                        .with_group_instance_id(instance.map(s))
                        .with_error_code(code(e))
                })
                .collect(),
        ),
        Ok(errors) => {
            LeaveGroupResponse::default().with_error_code(code(errors.into_iter().flatten().next()))
        }
    };
    Handled::Now(resp)
}
