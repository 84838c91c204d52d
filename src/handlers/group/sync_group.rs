//! SyncGroup (key 14, v0-5).

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::{code, s};
use crate::coordinator::group::classic::SyncInput;
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: SyncGroupRequest) -> Handled<SyncGroupResponse> {
    let v = ctx.version;
    if v >= 5 && (req.protocol_type.is_none() || req.protocol_name.is_none()) {
        return Handled::Now(
            SyncGroupResponse::default()
                .with_error_code(ResponseError::InconsistentGroupProtocol.code()),
        );
    }
    let broker = std::sync::Arc::clone(&ctx.broker);
    Handled::Later(Box::pin(async move {
        let input = SyncInput {
            member_id: req.member_id.to_string(),
            instance_id: req.group_instance_id.as_ref().map(|i| i.to_string()),
            generation: req.generation_id,
            protocol_type: req.protocol_type.as_ref().map(|t| t.to_string()),
            protocol_name: req.protocol_name.as_ref().map(|n| n.to_string()),
            assignments: req
                .assignments
                .iter()
                .map(|a| (a.member_id.to_string(), a.assignment.to_vec()))
                .collect(),
        };
        let r = broker.groups.sync(req.group_id.as_str(), input).await;
        let mut resp = SyncGroupResponse::default()
            .with_error_code(code(r.error))
            .with_assignment(Bytes::from(r.assignment));
        if v >= 5 {
            resp = resp
                .with_protocol_type(r.protocol_type.map(s))
                .with_protocol_name(r.protocol_name.map(s));
        }
        Handled::Now(resp)
    }))
}
