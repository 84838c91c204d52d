//! Heartbeat (key 12, v0-4).

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: HeartbeatRequest) -> Handled<HeartbeatResponse> {
    let r = ctx.broker.groups.heartbeat(
        req.group_id.as_str(),
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
        req.generation_id,
    );
    Handled::Now(HeartbeatResponse::default().with_error_code(super::code(r.err())))
}
