//! AddPartitionsToTxn (key 24, v0-5). v0-3 come from producers: one transaction, its
//! partitions added (and the transaction opened). v4+ are Kafka's broker-to-coordinator form:
//! several transactions, each either added or, with `verify_only`, checked (KIP-890).
//! Partitions a producer may not write (internal topics) or that do not exist fail the whole
//! transaction's request: the others get OPERATION_NOT_ATTEMPTED, as in Kafka.

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TransactionalId,
};

use super::fenced;
use crate::broker::Broker;
use crate::controller::topics::is_internal;
use crate::handlers::{Ctx, Handled};

/// One transaction's partitions with their results, in request order.
type Results = Vec<(kafka_protocol::messages::TopicName, Vec<(i32, i16)>)>;

fn results(topics: &[AddPartitionsToTxnTopic], code: impl Fn(&str, i32) -> i16) -> Results {
    topics
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.partitions
                    .iter()
                    .map(|p| (*p, code(t.name.as_str(), *p)))
                    .collect(),
            )
        })
        .collect()
}

/// Adds (or verifies) one transaction's partitions.
async fn one(
    broker: &Broker,
    version: i16,
    id: &str,
    producer_id: i64,
    epoch: i16,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
) -> Results {
    if verify_only {
        return results(topics, |t, p| {
            match broker
                .txns
                .verify(id, producer_id, epoch, &(t.to_string(), p))
            {
                Ok(()) => 0,
                Err(e) => e.code(),
            }
        });
    }
    let image = broker.controller.image();
    // Clients may not add internal topics (Kafka finds them unauthorized); brokers may.
    let check = |t: &str, p: i32| -> Option<E> {
        if version < 4 && is_internal(t) {
            Some(E::TopicAuthorizationFailed)
        } else if image
            .topic(t)
            .is_none_or(|ti| !ti.partitions.contains_key(&p))
        {
            Some(E::UnknownTopicOrPartition)
        } else {
            None
        }
    };
    let failed = topics.iter().any(|t| {
        t.partitions
            .iter()
            .any(|p| check(t.name.as_str(), *p).is_some())
    });
    if failed {
        return results(topics, |t, p| {
            check(t, p).unwrap_or(E::OperationNotAttempted).code()
        });
    }
    let partitions: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    let code = match broker
        .txns
        .add_partitions(id, producer_id, epoch, &partitions)
        .await
    {
        Ok(()) => 0,
        Err(e) => fenced(e, version, 2),
    };
    results(topics, |_, _| code)
}

fn topic_results(r: Results) -> Vec<AddPartitionsToTxnTopicResult> {
    r.into_iter()
        .map(|(name, parts)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(name)
                .with_results_by_partition(
                    parts
                        .into_iter()
                        .map(|(p, code)| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect()
}

pub(crate) async fn handle(
    ctx: &Ctx,
    req: AddPartitionsToTxnRequest,
) -> Handled<AddPartitionsToTxnResponse> {
    let v = ctx.version;
    let broker = Arc::clone(&ctx.broker);
    Handled::Later(Box::pin(async move {
        if v < 4 {
            let r = one(
                &broker,
                v,
                req.v3_and_below_transactional_id.as_str(),
                req.v3_and_below_producer_id.0,
                req.v3_and_below_producer_epoch,
                false,
                &req.v3_and_below_topics,
            )
            .await;
            return Handled::Now(
                AddPartitionsToTxnResponse::default()
                    .with_results_by_topic_v3_and_below(topic_results(r)),
            );
        }
        let mut out = Vec::with_capacity(req.transactions.len());
        for t in &req.transactions {
            let r = one(
                &broker,
                v,
                t.transactional_id.as_str(),
                t.producer_id.0,
                t.producer_epoch,
                t.verify_only,
                &t.topics,
            )
            .await;
            out.push(
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(TransactionalId(t.transactional_id.0.clone()))
                    .with_topic_results(topic_results(r)),
            );
        }
        Handled::Now(AddPartitionsToTxnResponse::default().with_results_by_transaction(out))
    }))
}
