//! DescribeTransactions (key 65, v0): the state of transactional ids
//! (`kafka-transactions.sh describe`). Unknown ids get TRANSACTIONAL_ID_NOT_FOUND.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(
    ctx: &Ctx,
    req: DescribeTransactionsRequest,
) -> Handled<DescribeTransactionsResponse> {
    let states = req
        .transactional_ids
        .iter()
        .map(|id| {
            let out = TransactionState::default()
                .with_transactional_id(id.clone())
                .with_transaction_start_time_ms(-1)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            match ctx.broker.txns.describe(id.as_str()) {
                Err(e) => out.with_error_code(e.code()),
                Ok(d) => {
                    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                    for (t, p) in d.partitions {
                        by_topic.entry(t).or_default().push(p);
                    }
                    out.with_transaction_state(StrBytes::from_static_str(d.state.name()))
                        .with_transaction_timeout_ms(d.timeout_ms)
                        .with_transaction_start_time_ms(d.start_ms)
                        .with_producer_id(ProducerId(d.producer_id))
                        .with_producer_epoch(d.producer_epoch)
                        .with_topics(
                            by_topic
                                .into_iter()
                                .map(|(t, ps)| {
                                    TopicData::default()
                                        .with_topic(TopicName(StrBytes::from_string(t)))
                                        .with_partitions(ps)
                                })
                                .collect(),
                        )
                }
            }
        })
        .collect();
    Handled::Now(DescribeTransactionsResponse::default().with_transaction_states(states))
}
