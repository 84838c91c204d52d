//! ListTransactions (key 66, v0-2): transactional ids filtered by state, producer id, how long
//! their transaction has been open (v1, KIP-994) and a full-match pattern on the id (v2).
//! Unknown state names are echoed in `unknown_state_filters`.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use crate::coordinator::txn::state::TxnState;
use crate::handlers::{Ctx, Handled};

/// Longest pattern compiled: a bound on the work one request can cause.
const PATTERN_MAX: usize = 4096;

pub(crate) async fn handle(
    ctx: &Ctx,
    req: ListTransactionsRequest,
) -> Handled<ListTransactionsResponse> {
    let mut states = Vec::new();
    let mut unknown = Vec::new();
    for f in &req.state_filters {
        match TxnState::from_name(f.as_str()) {
            Some(s) => states.push(s),
            None => unknown.push(f.clone()),
        }
    }
    let resp = ListTransactionsResponse::default().with_unknown_state_filters(unknown);
    let pattern = match req
        .transactional_id_pattern
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) if p.len() > PATTERN_MAX => {
            return Handled::Now(resp.with_error_code(E::InvalidRegularExpression.code()));
        }
        // Kafka matches the whole id (Java's `Matcher.matches`).
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(re) => Some(re),
            Err(_) => {
                return Handled::Now(resp.with_error_code(E::InvalidRegularExpression.code()));
            }
        },
    };
    // With only unknown state names, nothing matches.
    if states.is_empty() && !req.state_filters.is_empty() {
        return Handled::Now(resp);
    }
    let producer_ids: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
    let found = ctx.broker.txns.list(
        &states,
        &producer_ids,
        if ctx.version >= 1 {
            req.duration_filter
        } else {
            -1
        },
        pattern.as_ref(),
    );
    Handled::Now(
        resp.with_transaction_states(
            found
                .into_iter()
                .map(|(id, pid, state)| {
                    TransactionState::default()
                        .with_transactional_id(TransactionalId(StrBytes::from_string(id)))
                        .with_producer_id(ProducerId(pid))
                        .with_transaction_state(StrBytes::from_static_str(state.name()))
                })
                .collect(),
        ),
    )
}
