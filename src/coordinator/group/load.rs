//! Loading a coordinator at start: every `__consumer_offsets` partition read from its start and
//! its records replayed into groups and committed offsets.

use super::*;

impl GroupCoordinator {
    /// Replays every `__consumer_offsets` partition (node start).
    pub fn load(&self) -> Result<usize, E> {
        let now = crate::now_ms();
        let mut loaded = 0;
        for (idx, shard) in self.shards.iter().enumerate() {
            let p = self.log(idx)?;
            let mut s = shard.lock();
            p.replay(|b| {
                let h = *b.header();
                if h.is_control() {
                    // A transaction marker: its staged offsets become committed or go.
                    if h.producer_id >= 0
                        && let Ok(m) = pilgrimage_protocol::batch::control::parse_marker(b)
                    {
                        s.end_txn(h.producer_id, m.commit);
                    }
                    return;
                }
                let txn = (h.is_transactional() && h.producer_id >= 0).then_some(h.producer_id);
                let Ok(codec) = h.compression() else { return };
                let Ok(body) = codec::decompress_to_vec(codec, b.records_bytes(), 64 << 20) else {
                    return;
                };
                for r in RecordIter::new(&body) {
                    let Ok(r) = r else { break };
                    let Some(key) = r.key.and_then(Key::decode) else {
                        continue;
                    };
                    loaded += 1;
                    if let (
                        Some(pid),
                        Key::Offset {
                            group,
                            topic,
                            partition,
                        },
                        Some(v),
                    ) = (txn, &key, r.value)
                    {
                        if let Ok(v) = serde_json::from_slice::<OffsetValue>(v) {
                            s.stage_txn_offset(pid, group, (topic.clone(), *partition), v);
                        }
                        continue;
                    }
                    self.replay(&mut s, key, r.value, now);
                }
            })
            .map_err(|_| E::CoordinatorLoadInProgress)?;
        }
        Ok(loaded)
    }

    pub(super) fn replay(&self, s: &mut Shard, key: Key, value: Option<&[u8]>, now: i64) {
        match (key, value) {
            (
                Key::Offset {
                    group,
                    topic,
                    partition,
                },
                Some(v),
            ) => {
                if let Ok(v) = serde_json::from_slice::<OffsetValue>(v) {
                    let tp = (topic, partition);
                    s.supersede_pending(&group, &tp);
                    s.offsets.entry(group).or_default().insert(tp, v);
                }
            }
            (
                Key::Offset {
                    group,
                    topic,
                    partition,
                },
                None,
            ) => {
                let tp = (topic, partition);
                s.supersede_pending(&group, &tp);
                if let Some(o) = s.offsets.get_mut(&group) {
                    o.remove(&tp);
                }
            }
            (Key::ClassicGroup { group }, Some(v)) => {
                if let Ok(v) = serde_json::from_slice::<ClassicGroupValue>(v) {
                    let g = ClassicGroup::load(
                        &group,
                        &v,
                        now,
                        self.settings.initial_rebalance_delay_ms,
                    );
                    s.groups.insert(group, Group::Classic(Box::new(g)));
                }
            }
            (Key::ConsumerGroup { group }, Some(v)) => {
                if let Ok(v) = serde_json::from_slice::<ConsumerGroupValue>(v) {
                    let g = ConsumerGroup::load(
                        &group,
                        &v,
                        now,
                        self.settings.consumer_session_timeout_ms,
                    );
                    s.persisted.insert(group.clone(), v);
                    s.groups.insert(group, Group::Consumer(g));
                }
            }
            (Key::ClassicGroup { group }, None) => {
                if matches!(s.groups.get(&group), Some(Group::Classic(_))) {
                    s.groups.remove(&group);
                }
            }
            (Key::ConsumerGroup { group }, None) => {
                if matches!(s.groups.get(&group), Some(Group::Consumer(_))) {
                    s.groups.remove(&group);
                    s.persisted.remove(&group);
                }
            }
        }
    }
}
