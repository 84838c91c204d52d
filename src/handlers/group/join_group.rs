//! JoinGroup (key 11, v0-9).

use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{client_host, client_id, code, s};
use crate::coordinator::group::classic::JoinInput;
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: JoinGroupRequest) -> Handled<JoinGroupResponse> {
    let v = ctx.version;
    let input = JoinInput {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|i| i.to_string()),
        client_id: client_id(ctx),
        client_host: client_host(ctx),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: the session timeout stands in for it.
        rebalance_timeout_ms: if v >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.to_vec()))
            .collect(),
        version: v,
    };
    let broker = std::sync::Arc::clone(&ctx.broker);
    let group = req.group_id.to_string();
    Handled::Later(Box::pin(async move {
        let r = broker.groups.join(&group, input).await;
        // v7+ sends a missing protocol name as null, older versions as "".
        let name = match (r.protocol_name, v >= 7) {
            (Some(n), _) => Some(s(n)),
            (None, true) => None,
            (None, false) => Some(s("")),
        };
        Handled::Now(
            JoinGroupResponse::default()
                .with_error_code(code(r.error))
                .with_generation_id(r.generation)
                .with_protocol_type(r.protocol_type.map(s))
                .with_protocol_name(name)
                .with_leader(s(r.leader))
                .with_skip_assignment(r.skip_assignment)
                .with_member_id(s(r.member_id))
                .with_members(
                    r.members
                        .into_iter()
                        .map(|(id, instance, meta)| {
                            JoinGroupResponseMember::default()
                                .with_member_id(s(id))
                                .with_group_instance_id(instance.map(s))
                                .with_metadata(Bytes::from(meta))
                        })
                        .collect(),
                ),
        )
    }))
}
