//! Committed offsets of one group, and their expiry (KIP-211: offsets of a group expire
//! `offsets.retention.minutes` after the group became empty, or after their commit for topics a
//! stable group no longer consumes).

use std::collections::{BTreeMap, BTreeSet};

use super::records::OffsetValue;

/// (topic, partition) → committed offset.
pub type Offsets = BTreeMap<(String, i32), OffsetValue>;

/// From when an offset's retention counts, for a group in a given situation.
#[derive(Debug, Clone)]
pub enum ExpiryBase {
    /// Nothing expires (a rebalance is under way, or subscriptions are unknown).
    Never,
    /// Every offset counts from this instant (the group became empty then).
    Since(i64),
    /// Each offset counts from its commit, except for these subscribed topics, which never expire.
    CommitExcept(BTreeSet<String>),
}

/// The keys of offsets that have expired at `now`.
pub fn expired(
    offsets: &Offsets,
    base: &ExpiryBase,
    retention_ms: i64,
    now: i64,
) -> Vec<(String, i32)> {
    offsets
        .iter()
        .filter(|((topic, _), v)| {
            if v.expire_timestamp >= 0 {
                return now >= v.expire_timestamp;
            }
            match base {
                ExpiryBase::Never => false,
                ExpiryBase::Since(t) => now.saturating_sub(*t) >= retention_ms,
                ExpiryBase::CommitExcept(keep) => {
                    !keep.contains(topic) && now.saturating_sub(v.commit_timestamp) >= retention_ms
                }
            }
        })
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(ts: i64, expire: i64) -> OffsetValue {
        OffsetValue {
            offset: 1,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp: ts,
            expire_timestamp: expire,
        }
    }

    #[test]
    fn expiry_rules() {
        let mut o = Offsets::new();
        o.insert(("a".into(), 0), v(0, -1));
        o.insert(("b".into(), 0), v(0, -1));
        o.insert(("c".into(), 0), v(0, 50));
        assert_eq!(
            expired(&o, &ExpiryBase::Never, 10, 100),
            vec![("c".to_string(), 0)]
        );
        assert_eq!(expired(&o, &ExpiryBase::Since(95), 10, 100).len(), 1);
        assert_eq!(expired(&o, &ExpiryBase::Since(80), 10, 100).len(), 3);
        let keep: BTreeSet<String> = ["a".to_string()].into();
        assert_eq!(
            expired(&o, &ExpiryBase::CommitExcept(keep), 10, 100).len(),
            2
        );
    }
}
