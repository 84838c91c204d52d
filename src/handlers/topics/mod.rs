//! Topic administration: create, delete, grow, and delete records.

pub mod create_partitions;
pub mod create_topics;
pub mod delete_records;
pub mod delete_topics;

use kafka_protocol::protocol::StrBytes;

pub(crate) fn msg(s: Option<String>) -> Option<StrBytes> {
    s.map(StrBytes::from_string)
}
