//! Fetch sessions (KIP-227), as Kafka's `FetchSession.scala` runs them.
//!
//! ```text
//! epoch -1            sessionless: answer every partition, session id 0
//! epoch  0            full: answer every partition, then open a session (epoch 1) if a slot is free
//! epoch  n > 0        incremental: the request lists only changed partitions (and forgotten ones);
//!                     the answer lists only partitions with news (records, HW or log start
//!                     change, errors); the session's epoch moves to n + 1
//! id ≠ 0, epoch 0/-1  the old session is closed first
//! ```
//! The cache holds at most `max.incremental.fetch.session.cache.slots` sessions. When full, a
//! session unused for two minutes is evicted for a new one; otherwise the new one is not created
//! and the client carries on sessionless.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;
use uuid::Uuid;

/// Kafka's `MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`.
const EVICTABLE_AFTER: Duration = Duration::from_secs(120);

/// How a fetch request addresses a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopicKey {
    Name(Arc<str>),
    Id(Uuid),
}

/// One partition of a fetch, as requested or as remembered by a session.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub topic: TopicKey,
    pub partition: i32,
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
}

#[derive(Debug, Clone)]
struct Cached {
    wanted: Wanted,
    /// What the client last heard: a partition is resent when these change.
    high_watermark: i64,
    log_start: i64,
}

#[derive(Debug)]
struct Session {
    epoch: i32,
    uses_topic_ids: bool,
    partitions: IndexMap<(TopicKey, i32), Cached>,
    last_used: Instant,
}

/// How this request relates to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sessionless,
    /// A full request: open a session when answering.
    Full,
    /// An incremental request on this session.
    Incremental(i32),
}

/// The partitions to serve and how to answer.
#[derive(Debug)]
pub struct Plan {
    pub mode: Mode,
    pub partitions: Vec<Wanted>,
}

#[derive(Debug)]
pub struct FetchSessionCache {
    slots: usize,
    sessions: Mutex<HashMap<i32, Session>>,
}

fn next_epoch(e: i32) -> i32 {
    if e < 0 {
        -1
    } else if e == i32::MAX {
        1
    } else {
        e + 1
    }
}

impl FetchSessionCache {
    pub fn new(slots: usize) -> FetchSessionCache {
        FetchSessionCache {
            slots,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decides how to serve a request (Kafka's `FetchManager.newContext`).
    pub fn plan(
        &self,
        session_id: i32,
        epoch: i32,
        requested: Vec<Wanted>,
        forgotten: &[(TopicKey, i32)],
        uses_topic_ids: bool,
    ) -> Result<Plan, ResponseError> {
        let mut sessions = self.sessions.lock();
        if epoch == 0 || epoch == -1 {
            if session_id != 0 {
                sessions.remove(&session_id);
            }
            let mode = if epoch == -1 {
                Mode::Sessionless
            } else {
                Mode::Full
            };
            return Ok(Plan {
                mode,
                partitions: requested,
            });
        }
        let Some(session) = sessions.get_mut(&session_id) else {
            return Err(ResponseError::FetchSessionIdNotFound);
        };
        if session.epoch != epoch {
            return Err(ResponseError::InvalidFetchSessionEpoch);
        }
        if session.uses_topic_ids != uses_topic_ids {
            return Err(ResponseError::FetchSessionTopicIdError);
        }
        for w in requested {
            let key = (w.topic.clone(), w.partition);
            match session.partitions.get_mut(&key) {
                Some(c) => c.wanted = w,
                None => {
                    session.partitions.insert(
                        key,
                        Cached {
                            wanted: w,
                            high_watermark: -1,
                            log_start: -1,
                        },
                    );
                }
            }
        }
        for key in forgotten {
            session.partitions.shift_remove(key);
        }
        session.epoch = next_epoch(epoch);
        session.last_used = Instant::now();
        if session.partitions.is_empty() {
            sessions.remove(&session_id);
            return Ok(Plan {
                mode: Mode::Sessionless,
                partitions: Vec::new(),
            });
        }
        let partitions = session
            .partitions
            .values()
            .map(|c| c.wanted.clone())
            .collect();
        Ok(Plan {
            mode: Mode::Incremental(session_id),
            partitions,
        })
    }

    /// Opens a session for a full request that was answered with `served` partitions (with the
    /// HW and log start each was answered with). Returns its id, or 0 when the cache is full.
    pub fn open(&self, served: &[(Wanted, i64, i64)], uses_topic_ids: bool) -> i32 {
        if self.slots == 0 {
            return 0;
        }
        let mut sessions = self.sessions.lock();
        if sessions.len() >= self.slots {
            let now = Instant::now();
            let idle = sessions
                .iter()
                .filter(|(_, s)| now.duration_since(s.last_used) > EVICTABLE_AFTER)
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| *id);
            match idle {
                Some(id) => {
                    sessions.remove(&id);
                }
                None => return 0,
            }
        }
        let mut id = 0;
        while id <= 0 || sessions.contains_key(&id) {
            id = rand::random::<i32>() & i32::MAX;
        }
        let partitions = served
            .iter()
            .map(|(w, hw, start)| {
                (
                    (w.topic.clone(), w.partition),
                    Cached {
                        wanted: w.clone(),
                        high_watermark: *hw,
                        log_start: *start,
                    },
                )
            })
            .collect();
        sessions.insert(
            id,
            Session {
                epoch: 1,
                uses_topic_ids,
                partitions,
                last_used: Instant::now(),
            },
        );
        id
    }

    /// For an incremental answer: whether a partition has news for the client, remembering what
    /// it is told. Partitions that returned records move to the end of the session's order so
    /// others get their turn first next time.
    pub fn has_news(
        &self,
        session_id: i32,
        key: &(TopicKey, i32),
        hw: i64,
        log_start: i64,
        records: bool,
        error: bool,
    ) -> bool {
        let mut sessions = self.sessions.lock();
        let Some(s) = sessions.get_mut(&session_id) else {
            return true;
        };
        let Some(idx) = s.partitions.get_index_of(key) else {
            return true;
        };
        let last = s.partitions.len() - 1;
        let Some((_, c)) = s.partitions.get_index_mut(idx) else {
            return true;
        };
        let news = records || error || c.high_watermark != hw || c.log_start != log_start;
        // After an error the cached HW is reset so the partition is sent again once it clears.
        c.high_watermark = if error { -1 } else { hw };
        c.log_start = log_start;
        if records {
            s.partitions.move_index(idx, last);
        }
        news
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(p: i32, offset: i64) -> Wanted {
        Wanted {
            topic: TopicKey::Name(Arc::from("t")),
            partition: p,
            fetch_offset: offset,
            max_bytes: 1000,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
        }
    }

    #[test]
    fn session_lifecycle() {
        let cache = FetchSessionCache::new(2);
        let plan = cache
            .plan(0, 0, vec![w(0, 0), w(1, 0)], &[], false)
            .unwrap();
        assert_eq!(plan.mode, Mode::Full);
        let served: Vec<_> = plan.partitions.iter().map(|w| (w.clone(), 10, 0)).collect();
        let id = cache.open(&served, false);
        assert!(id > 0);
        // Incremental with a new offset for partition 1 only.
        let plan = cache.plan(id, 1, vec![w(1, 5)], &[], false).unwrap();
        assert_eq!(plan.mode, Mode::Incremental(id));
        assert_eq!(plan.partitions.len(), 2);
        assert_eq!(plan.partitions[1].fetch_offset, 5);
        // Wrong epoch, unknown id, topic-id mismatch.
        assert_eq!(
            cache.plan(id, 1, vec![], &[], false).unwrap_err(),
            ResponseError::InvalidFetchSessionEpoch
        );
        assert_eq!(
            cache.plan(id + 1, 1, vec![], &[], false).unwrap_err(),
            ResponseError::FetchSessionIdNotFound
        );
        assert_eq!(
            cache.plan(id, 2, vec![], &[], true).unwrap_err(),
            ResponseError::FetchSessionTopicIdError
        );
        // News: unchanged HW and no records → not sent.
        let key = (TopicKey::Name(Arc::from("t")), 0);
        assert!(!cache.has_news(id, &key, 10, 0, false, false));
        assert!(cache.has_news(id, &key, 11, 0, false, false));
        // Forget everything: the session ends.
        let forget = [
            (TopicKey::Name(Arc::from("t")), 0),
            (TopicKey::Name(Arc::from("t")), 1),
        ];
        let plan = cache.plan(id, 2, vec![], &forget, false).unwrap();
        assert_eq!(plan.mode, Mode::Sessionless);
        assert!(cache.is_empty());
    }

    #[test]
    fn full_cache_refuses_new_sessions() {
        let cache = FetchSessionCache::new(1);
        assert!(cache.open(&[(w(0, 0), 0, 0)], false) > 0);
        assert_eq!(cache.open(&[(w(0, 0), 0, 0)], false), 0);
    }
}
