//! Authorized-operations bitfields (KIP-430) for Metadata, DescribeCluster and
//! DescribeTopicPartitions. Without an authorizer every principal may do everything, so a
//! request that asks gets every operation the resource type has, as Kafka answers then.

/// "Not requested": what the field holds when the request did not ask.
pub(crate) const NOT_REQUESTED: i32 = i32::MIN;

// Kafka's AclOperation codes.
const READ: i32 = 3;
const WRITE: i32 = 4;
const CREATE: i32 = 5;
const DELETE: i32 = 6;
const ALTER: i32 = 7;
const DESCRIBE: i32 = 8;
const CLUSTER_ACTION: i32 = 9;
const DESCRIBE_CONFIGS: i32 = 10;
const ALTER_CONFIGS: i32 = 11;
const IDEMPOTENT_WRITE: i32 = 12;

const fn bits(ops: &[i32]) -> i32 {
    let mut v = 0;
    let mut i = 0;
    while i < ops.len() {
        v |= 1 << ops[i];
        i += 1;
    }
    v
}

/// Every topic operation (3576).
pub(crate) const TOPIC_ALL: i32 = bits(&[
    READ,
    WRITE,
    CREATE,
    DELETE,
    ALTER,
    DESCRIBE,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
]);
/// Every cluster operation (8096).
pub(crate) const CLUSTER_ALL: i32 = bits(&[
    CREATE,
    ALTER,
    DESCRIBE,
    CLUSTER_ACTION,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
    IDEMPOTENT_WRITE,
]);

/// The field's value for a request that did or did not ask.
pub(crate) fn topic(asked: bool) -> i32 {
    if asked { TOPIC_ALL } else { NOT_REQUESTED }
}

pub(crate) fn cluster(asked: bool) -> i32 {
    if asked { CLUSTER_ALL } else { NOT_REQUESTED }
}

#[cfg(test)]
mod tests {
    #[test]
    fn match_kafka_without_an_authorizer() {
        assert_eq!(super::TOPIC_ALL, 3576);
        assert_eq!(super::CLUSTER_ALL, 8096);
    }
}
