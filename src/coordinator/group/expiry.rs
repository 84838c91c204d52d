//! Deadlines: session and rebalance timeouts every `TICK`, and the expiry of committed offsets
//! (`offsets.retention.minutes`) and of empty groups.

use super::*;

impl GroupCoordinator {
    /// Runs due deadlines of every group.
    pub fn tick(&self) {
        let now = crate::now_ms();
        for (idx, shard) in self.shards.iter().enumerate() {
            let mut s = shard.lock();
            let due: Vec<String> = s
                .groups
                .iter()
                .filter(|(_, g)| match g {
                    Group::Classic(c) => c.next_deadline().is_some_and(|d| d <= now),
                    Group::Consumer(c) => c.next_deadline().is_some_and(|d| d <= now),
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in due {
                match s.groups.get_mut(&id) {
                    Some(Group::Classic(g)) => {
                        let fx = g.tick(now);
                        self.apply(idx, &mut s, &id, fx);
                    }
                    Some(Group::Consumer(g)) => {
                        let fenced = g.tick(now);
                        let value = fenced.then(|| g.value());
                        if let Some(value) = value
                            && let Ok(bytes) = serde_json::to_vec(&value)
                        {
                            let _ = self.append(
                                idx,
                                &[(Key::ConsumerGroup { group: id.clone() }, Some(bytes))],
                            );
                            s.persisted.insert(id.clone(), value);
                        }
                    }
                    None => {}
                }
            }
        }
    }

    /// Expires offsets (`offsets.retention.minutes`) and deletes empty groups without offsets.
    pub fn expire(&self, view: &TopicView) {
        self.expire_at(view, crate::now_ms());
    }

    /// [`Self::expire`] as of `now` (tests look into the future with it).
    pub fn expire_at(&self, view: &TopicView, now: i64) {
        for (idx, shard) in self.shards.iter().enumerate() {
            let mut s = shard.lock();
            let ids: Vec<String> = s
                .groups
                .keys()
                .chain(s.offsets.keys())
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut records = Vec::new();
            for id in ids {
                let base = match s.groups.get(&id) {
                    None => ExpiryBase::CommitExcept(Default::default()),
                    Some(Group::Classic(g)) if g.protocol_type.is_none() => {
                        ExpiryBase::CommitExcept(Default::default())
                    }
                    Some(Group::Classic(g)) if g.state == classic::State::Empty => {
                        ExpiryBase::Since(g.state_since_ms)
                    }
                    Some(Group::Classic(g)) if g.state == classic::State::Stable => {
                        match g.subscribed_topics() {
                            Some(t) => ExpiryBase::CommitExcept(t),
                            None => ExpiryBase::Never,
                        }
                    }
                    Some(Group::Classic(_)) => ExpiryBase::Never,
                    Some(Group::Consumer(g)) => ExpiryBase::CommitExcept(g.subscribed_topics(view)),
                };
                let gone = s
                    .offsets
                    .get(&id)
                    .map(|o| offsets::expired(o, &base, self.settings.offsets_retention_ms, now))
                    .unwrap_or_default();
                if let Some(o) = s.offsets.get_mut(&id) {
                    for (t, p) in &gone {
                        o.remove(&(t.clone(), *p));
                        records.push((
                            Key::Offset {
                                group: id.clone(),
                                topic: t.clone(),
                                partition: *p,
                            },
                            None,
                        ));
                    }
                    if o.is_empty() {
                        s.offsets.remove(&id);
                    }
                }
                let empty = s.groups.get(&id).is_none_or(Group::is_empty);
                if empty
                    && !s.offsets.contains_key(&id)
                    && !s.group_has_pending(&id)
                    && s.groups.remove(&id).is_some()
                {
                    s.persisted.remove(&id);
                    records.push((Key::ClassicGroup { group: id.clone() }, None));
                    records.push((Key::ConsumerGroup { group: id.clone() }, None));
                }
            }
            if !records.is_empty() {
                info!(
                    partition = idx,
                    records = records.len(),
                    "expired offsets and groups"
                );
                if self.append(idx, &records).is_ok() {
                    s.supersede_tombstoned(&records);
                }
            }
        }
    }
}
