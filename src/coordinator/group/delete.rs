//! DeleteGroups and OffsetDelete: tombstones for a group's metadata and offsets, answered once
//! they are durable.

use super::*;

impl GroupCoordinator {
    /// DeleteGroups of one group.
    pub async fn delete_group(&self, group: &str) -> Result<(), E> {
        let (idx, shard) = self.shard(group);
        let durable = {
            let mut s = shard.lock();
            match s.groups.get(group) {
                None => return Err(E::GroupIdNotFound),
                Some(Group::Classic(g)) if g.state == classic::State::Dead => {
                    return Err(E::GroupIdNotFound);
                }
                Some(g) if !g.is_empty() => return Err(E::NonEmptyGroup),
                Some(_) => {}
            }
            let mut records: Vec<(Key, Option<Vec<u8>>)> = s
                .offsets
                .get(group)
                .into_iter()
                .flatten()
                .map(|((t, p), _)| {
                    (
                        Key::Offset {
                            group: group.to_string(),
                            topic: t.clone(),
                            partition: *p,
                        },
                        None,
                    )
                })
                .collect();
            records.push((
                Key::ClassicGroup {
                    group: group.to_string(),
                },
                None,
            ));
            records.push((
                Key::ConsumerGroup {
                    group: group.to_string(),
                },
                None,
            ));
            let durable = self.append(idx, &records)?;
            s.supersede_tombstoned(&records);
            s.groups.remove(group);
            s.offsets.remove(group);
            s.persisted.remove(group);
            durable
        };
        self.wait_durable(idx, durable).await
    }

    /// OffsetDelete: a group-level error, or per (topic, partition) errors.
    pub async fn delete_offsets(
        &self,
        group: &str,
        topics: &[(String, Vec<i32>)],
        view: &TopicView,
    ) -> Result<Vec<(String, Vec<(i32, Option<E>)>)>, E> {
        let (idx, shard) = self.shard(group);
        let (out, durable) = {
            let mut s = shard.lock();
            let subscribed = match s.groups.get(group) {
                None => return Err(E::GroupIdNotFound),
                Some(Group::Classic(g)) if g.state == classic::State::Dead => {
                    return Err(E::GroupIdNotFound);
                }
                Some(Group::Classic(g))
                    if !g.is_empty() && g.protocol_type.as_deref() != Some("consumer") =>
                {
                    return Err(E::NonEmptyGroup);
                }
                Some(Group::Classic(g)) if g.is_empty() => Some(Default::default()),
                Some(Group::Classic(g)) => g.subscribed_topics(),
                Some(Group::Consumer(g)) => Some(g.subscribed_topics(view)),
            };
            let mut out = Vec::new();
            let mut records = Vec::new();
            let stored = s.offsets.entry(group.to_string()).or_default();
            for (t, ps) in topics {
                let busy = subscribed.as_ref().is_none_or(|s| s.contains(t));
                let mut parts = Vec::new();
                for p in ps {
                    if busy {
                        parts.push((*p, Some(E::GroupSubscribedToTopic)));
                        continue;
                    }
                    if stored.remove(&(t.clone(), *p)).is_some() {
                        records.push((
                            Key::Offset {
                                group: group.to_string(),
                                topic: t.clone(),
                                partition: *p,
                            },
                            None,
                        ));
                    }
                    parts.push((*p, None));
                }
                out.push((t.clone(), parts));
            }
            let durable = self.append(idx, &records)?;
            s.supersede_tombstoned(&records);
            (out, durable)
        };
        self.wait_durable(idx, durable).await?;
        Ok(out)
    }
}
