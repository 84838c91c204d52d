//! ListGroups (key 16, v0-5) with state (v4) and type (v5) filters, case-insensitive.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse};

use super::s;
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: ListGroupsRequest) -> Handled<ListGroupsResponse> {
    let states: Vec<String> = req
        .states_filter
        .iter()
        .map(|x| x.trim().to_lowercase())
        .collect();
    let types: Vec<String> = req
        .types_filter
        .iter()
        .map(|x| x.trim().to_lowercase())
        .collect();
    let groups = ctx
        .broker
        .groups
        .list()
        .into_iter()
        .filter(|(_, _, state, kind)| {
            (states.is_empty() || states.contains(&state.to_lowercase()))
                && (types.is_empty() || types.iter().any(|t| t == kind))
        })
        .map(|(id, protocol_type, state, kind)| {
            ListedGroup::default()
                .with_group_id(s(id).into())
                .with_protocol_type(s(protocol_type))
                .with_group_state(s(state))
                .with_group_type(s(kind))
        })
        .collect();
    Handled::Now(ListGroupsResponse::default().with_groups(groups))
}
