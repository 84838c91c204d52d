//! Idempotence and transaction APIs: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
//! EndTxn, TxnOffsetCommit, WriteTxnMarkers, and the administration of producers and
//! transactions (DescribeProducers, DescribeTransactions, ListTransactions). They translate
//! requests for `coordinator::txn` (and `coordinator::group` for offsets) and the answers back.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod describe_producers;
pub mod describe_transactions;
pub mod end_txn;
pub mod init_producer_id;
pub mod list_transactions;
pub mod txn_offset_commit;
pub mod write_txn_markers;

use kafka_protocol::error::ResponseError as E;

/// Kafka sends PRODUCER_FENCED only to versions that know it (`since`); older ones get
/// INVALID_PRODUCER_EPOCH.
pub(crate) fn fenced(e: E, version: i16, since: i16) -> i16 {
    if e == E::ProducerFenced && version < since {
        E::InvalidProducerEpoch.code()
    } else {
        e.code()
    }
}
