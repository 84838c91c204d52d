//! DeleteGroups (key 42, v0-2): empty groups only; their offsets go with them.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: DeleteGroupsRequest) -> Handled<DeleteGroupsResponse> {
    let broker = Arc::clone(&ctx.broker);
    Handled::Later(Box::pin(async move {
        let mut seen = BTreeSet::new();
        let mut results = Vec::new();
        for g in req.groups_names {
            if !seen.insert(g.to_string()) {
                continue;
            }
            let code = broker
                .groups
                .delete_group(g.as_str())
                .await
                .err()
                .map_or(0, |e| e.code());
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(g)
                    .with_error_code(code),
            );
        }
        Handled::Now(DeleteGroupsResponse::default().with_results(results))
    }))
}
