//! A consumer group of the next-generation protocol (KIP-848), as Kafka 4.1's
//! `GroupMetadataManager.consumerGroupHeartbeat` and `CurrentAssignmentBuilder` run it
//! (with the 4.2 fix for a member rejoining with epoch 0, KAFKA-19233). Sans-IO.
//!
//! ```text
//! heartbeat ─▶ member lookup / epoch check ─▶ update subscription ─▶ group epoch bump?
//!          ─▶ target assignment (assignor) if group epoch > assignment epoch
//!          ─▶ reconcile this member:
//!               partitions to give up first (UNREVOKED_PARTITIONS, epoch held back),
//!               partitions another member still owns wait (UNRELEASED_PARTITIONS),
//!               the rest is handed out (STABLE at the target epoch)
//! ```
//! A partition moves to its new owner only after the old owner stopped reporting it (or was
//! fenced): no partition is ever consumed by two members of the group at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kafka_protocol::error::ResponseError as E;
use uuid::Uuid;

use super::assignor::{self, Assignment, MemberSpec};
use super::records::{ConsumerGroupValue, ConsumerMemberValue};

/// Per-member reconciliation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    Stable,
    UnrevokedPartitions,
    UnreleasedPartitions,
}

#[derive(Debug, Clone)]
pub struct CMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_names: Vec<String>,
    pub regex: Option<String>,
    pub assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: MemberState,
    pub assigned: Assignment,
    pub revoking: Assignment,
    session_deadline: i64,
    revoke_deadline: Option<i64>,
}

/// What a ConsumerGroupHeartbeat carries (null fields = unchanged).
#[derive(Debug, Clone, Default)]
pub struct HeartbeatInput {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_names: Option<Vec<String>>,
    pub regex: Option<String>,
    pub assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResult {
    pub member_id: String,
    pub member_epoch: i32,
    /// Present when the member must learn its (new) assignment.
    pub assignment: Option<Assignment>,
}

/// The topics the group can see: name → (id, partitions).
pub type TopicView = BTreeMap<String, (Uuid, i32)>;

#[derive(Debug, Clone)]
pub struct ConsumerGroup {
    pub id: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, CMember>,
    pub target: BTreeMap<String, Assignment>,
    /// Hash of the subscribed topics' ids and partition counts: a change bumps the group epoch.
    metadata_hash: u64,
    pub state_since_ms: i64,
}

/// Group states as ConsumerGroupDescribe and ListGroups name them.
pub fn state_name(g: &ConsumerGroup) -> &'static str {
    if g.members.is_empty() {
        "Empty"
    } else if g.group_epoch > g.assignment_epoch {
        "Assigning"
    } else if g
        .members
        .values()
        .any(|m| m.state != MemberState::Stable || m.epoch != g.assignment_epoch)
    {
        "Reconciling"
    } else {
        "Stable"
    }
}

fn union(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = a.clone();
    for (t, ps) in b {
        out.entry(*t).or_default().extend(ps);
    }
    out
}

fn intersects(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .any(|(t, ps)| b.get(t).is_some_and(|qs| !ps.is_disjoint(qs)))
}

fn is_subset(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .all(|(t, ps)| ps.is_empty() || b.get(t).is_some_and(|qs| ps.is_subset(qs)))
}

fn prune(mut a: Assignment) -> Assignment {
    a.retain(|_, ps| !ps.is_empty());
    a
}

impl ConsumerGroup {
    pub fn new(id: &str, now: i64) -> ConsumerGroup {
        ConsumerGroup {
            id: id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            metadata_hash: 0,
            state_since_ms: now,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Topic names any member subscribes to (names and regex matches resolved against `topics`).
    pub fn subscribed_topics(&self, topics: &TopicView) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for m in self.members.values() {
            out.extend(resolve(m, topics).into_iter().filter_map(|id| {
                topics
                    .iter()
                    .find(|(_, (i, _))| *i == id)
                    .map(|(n, _)| n.clone())
            }));
        }
        out
    }

    /// The partition → owner map: a partition is owned while it is assigned to a member or that
    /// member still has to revoke it.
    fn owners(&self) -> HashMap<(Uuid, i32), &str> {
        let mut out = HashMap::new();
        for m in self.members.values() {
            for (t, ps) in m.assigned.iter().chain(m.revoking.iter()) {
                for p in ps {
                    out.insert((*t, *p), m.id.as_str());
                }
            }
        }
        out
    }

    /// Handles a ConsumerGroupHeartbeat. `new_id` generates a member id (v0 joins without one).
    pub fn heartbeat(
        &mut self,
        now: i64,
        mut req: HeartbeatInput,
        topics: &TopicView,
        session_timeout_ms: i64,
        default_assignor: &str,
        new_id: impl FnOnce() -> String,
    ) -> Result<HeartbeatResult, (E, String)> {
        if req.member_epoch == 0 && req.member_id.is_empty() {
            req.member_id = new_id();
        }
        let full = req.rebalance_timeout_ms != -1
            && (req.subscribed_names.is_some() || req.regex.is_some())
            && req.owned.is_some();
        // Leaving.
        if req.member_epoch == -1 || req.member_epoch == -2 {
            return self.leave(now, &req);
        }
        // Member lookup and epoch check.
        let mut is_new = false;
        if let Some(instance) = req.instance_id.clone() {
            let holder = self
                .members
                .values()
                .find(|m| m.instance_id.as_deref() == Some(instance.as_str()))
                .map(|m| m.id.clone());
            match (req.member_epoch, holder) {
                (0, Some(old)) if old != req.member_id => {
                    let Some(prev) = self.members.get(&old) else {
                        return Err((
                            E::UnknownServerError,
                            "inconsistent static membership".into(),
                        ));
                    };
                    if prev.epoch != -2 {
                        return Err((
                            E::UnreleasedInstanceId,
                            format!("Static member {instance} is still in use"),
                        ));
                    }
                    // The static member returns under a new id: it takes over the old one.
                    if let Some(mut m) = self.members.remove(&old) {
                        m.id = req.member_id.clone();
                        m.epoch = 0;
                        m.previous_epoch = 0;
                        let target = self.target.remove(&old);
                        if let Some(t) = target {
                            self.target.insert(m.id.clone(), t);
                        }
                        self.members.insert(m.id.clone(), m);
                    }
                }
                (0, _) => {}
                (_, None) => {
                    return Err((
                        E::UnknownMemberId,
                        format!("Instance id {instance} is unknown"),
                    ));
                }
                (_, Some(holder)) if holder != req.member_id => {
                    return Err((
                        E::FencedInstanceId,
                        format!("Instance id {instance} belongs to another member"),
                    ));
                }
                _ => {}
            }
        }
        match self.members.get(&req.member_id) {
            None if req.member_epoch != 0 => {
                return Err((
                    E::UnknownMemberId,
                    format!("Member {} is not in group {}", req.member_id, self.id),
                ));
            }
            None => {
                is_new = true;
                self.members.insert(
                    req.member_id.clone(),
                    CMember {
                        id: req.member_id.clone(),
                        instance_id: req.instance_id.clone(),
                        rack_id: None,
                        client_id: req.client_id.clone(),
                        client_host: req.client_host.clone(),
                        subscribed_names: Vec::new(),
                        regex: None,
                        assignor: None,
                        rebalance_timeout_ms: req.rebalance_timeout_ms,
                        epoch: 0,
                        previous_epoch: 0,
                        state: MemberState::Stable,
                        assigned: Assignment::new(),
                        revoking: Assignment::new(),
                        session_deadline: now + session_timeout_ms,
                        revoke_deadline: None,
                    },
                );
            }
            Some(m) => {
                let received = req.member_epoch;
                if received != 0 && received > m.epoch {
                    return Err((
                        E::FencedMemberEpoch,
                        format!("Epoch {received} is newer than the member's {}", m.epoch),
                    ));
                }
                if received != 0 && received < m.epoch {
                    // A lost response: the client may repeat the previous epoch if what it owns
                    // is still within its assignment.
                    let ok = received == m.previous_epoch
                        && req
                            .owned
                            .as_ref()
                            .is_some_and(|o| is_subset(o, &m.assigned));
                    if !ok {
                        return Err((
                            E::FencedMemberEpoch,
                            format!("Epoch {received} is older than the member's {}", m.epoch),
                        ));
                    }
                }
            }
        }
        // Update the member.
        let before_subs;
        let before_regex;
        {
            let Some(m) = self.members.get_mut(&req.member_id) else {
                return Err((E::UnknownMemberId, "member vanished".into()));
            };
            before_subs = m.subscribed_names.clone();
            before_regex = m.regex.clone();
            if let Some(names) = req.subscribed_names.take() {
                m.subscribed_names = names;
            }
            if req.regex.is_some() {
                m.regex = req.regex.take().filter(|r| !r.is_empty());
            }
            if req.assignor.is_some() {
                m.assignor = req.assignor.take();
            }
            if req.rack_id.is_some() {
                m.rack_id = req.rack_id.take();
            }
            if req.rebalance_timeout_ms != -1 {
                m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            }
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
            m.session_deadline = now + session_timeout_ms;
            if req.member_epoch == 0 && !is_new {
                // Rejoin after a fence or restart: start over with nothing owned.
                m.epoch = 0;
                m.previous_epoch = 0;
                m.assigned.clear();
                m.revoking.clear();
                m.state = MemberState::Stable;
                m.revoke_deadline = None;
            }
        }
        let changed_subscription = self
            .members
            .get(&req.member_id)
            .is_some_and(|m| m.subscribed_names != before_subs || m.regex != before_regex);
        let hash = self.topics_hash(topics);
        if is_new || changed_subscription || hash != self.metadata_hash || self.group_epoch == 0 {
            self.group_epoch += 1;
            self.metadata_hash = hash;
        }
        if self.group_epoch > self.assignment_epoch {
            self.compute_target(topics, default_assignor);
        }
        let before = self
            .members
            .get(&req.member_id)
            .map(|m| m.assigned.clone())
            .unwrap_or_default();
        self.reconcile(now, &req.member_id, req.owned.as_ref());
        let m = self
            .members
            .get(&req.member_id)
            .ok_or_else(|| (E::UnknownMemberId, "member vanished".to_string()))?;
        let changed = m.assigned != before;
        Ok(HeartbeatResult {
            member_id: m.id.clone(),
            member_epoch: m.epoch,
            assignment: (req.member_epoch == 0 || full || changed).then(|| m.assigned.clone()),
        })
    }

    fn leave(&mut self, now: i64, req: &HeartbeatInput) -> Result<HeartbeatResult, (E, String)> {
        let Some(m) = self.members.get(&req.member_id) else {
            return Err((
                E::UnknownMemberId,
                format!("Member {} is not in group {}", req.member_id, self.id),
            ));
        };
        if let Some(i) = &req.instance_id
            && m.instance_id.as_deref() != Some(i.as_str())
        {
            return Err((
                E::FencedInstanceId,
                format!("Instance id {i} belongs to another member"),
            ));
        }
        if req.member_epoch == -2 {
            // A static member leaving for a while: it keeps its assignment until its session
            // times out or it returns.
            if let Some(m) = self.members.get_mut(&req.member_id) {
                m.epoch = -2;
                m.revoking.clear();
            }
        } else {
            self.fence(now, &req.member_id);
        }
        Ok(HeartbeatResult {
            member_id: req.member_id.clone(),
            member_epoch: req.member_epoch,
            assignment: None,
        })
    }

    /// Removes a member: its partitions are free at once and the group epoch moves on.
    pub fn fence(&mut self, now: i64, member_id: &str) {
        if self.members.remove(member_id).is_some() {
            self.target.remove(member_id);
            self.group_epoch += 1;
            self.state_since_ms = now;
        }
    }

    fn topics_hash(&self, topics: &TopicView) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut ids: BTreeSet<Uuid> = BTreeSet::new();
        for m in self.members.values() {
            ids.extend(resolve(m, topics));
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for id in ids {
            id.hash(&mut h);
            topics
                .values()
                .find(|(i, _)| *i == id)
                .map(|(_, p)| *p)
                .hash(&mut h);
        }
        h.finish()
    }

    fn compute_target(&mut self, topics: &TopicView, default_assignor: &str) {
        let specs: Vec<MemberSpec> = self
            .members
            .values()
            .map(|m| MemberSpec {
                id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                topics: resolve(m, topics),
            })
            .collect();
        let partitions: BTreeMap<Uuid, i32> = topics.values().map(|(id, n)| (*id, *n)).collect();
        // The assignor most members ask for, or the default.
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.assignor.as_deref() {
                *votes.entry(a).or_default() += 1;
            }
        }
        let name = votes
            .iter()
            .max_by_key(|(_, n)| **n)
            .map_or(default_assignor, |(a, _)| *a)
            .to_string();
        self.target = assignor::assign(&name, &specs, &partitions, &self.target);
        self.assignment_epoch = self.group_epoch;
    }

    /// Kafka's `CurrentAssignmentBuilder`: moves one member towards its target.
    fn reconcile(&mut self, now: i64, member_id: &str, owned: Option<&Assignment>) {
        let Some(m) = self.members.get(member_id) else {
            return;
        };
        let target_epoch = self.assignment_epoch;
        let next_epoch = match m.state {
            MemberState::Stable if m.epoch == target_epoch => return,
            MemberState::Stable | MemberState::UnreleasedPartitions => m.epoch,
            MemberState::UnrevokedPartitions => {
                // Still holding partitions it must give up: wait.
                match owned {
                    Some(o) if !intersects(o, &m.revoking) => (m.epoch + 1).min(target_epoch),
                    _ => return,
                }
            }
        };
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let owners = self.owners();
        let Some(m) = self.members.get(member_id) else {
            return;
        };
        let current = union(&m.assigned, &Assignment::new());
        let mut assigned = Assignment::new();
        let mut revoking = Assignment::new();
        let mut unreleased = false;
        let mut newly = Assignment::new();
        let topics: BTreeSet<Uuid> = target.keys().chain(current.keys()).copied().collect();
        for t in topics {
            let tgt = target.get(&t).cloned().unwrap_or_default();
            let cur = current.get(&t).cloned().unwrap_or_default();
            let keep: BTreeSet<i32> = cur.intersection(&tgt).copied().collect();
            let give_up: BTreeSet<i32> = cur.difference(&keep).copied().collect();
            for p in tgt.difference(&keep) {
                match owners.get(&(t, *p)) {
                    Some(owner) if *owner != member_id => unreleased = true,
                    _ => {
                        newly.entry(t).or_default().insert(*p);
                    }
                }
            }
            if !keep.is_empty() {
                assigned.insert(t, keep);
            }
            if !give_up.is_empty() {
                revoking.insert(t, give_up);
            }
        }
        let still_owns = |r: &Assignment| owned.is_none_or(|o| intersects(o, r));
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        if !revoking.is_empty() && still_owns(&revoking) {
            m.previous_epoch = m.epoch;
            m.epoch = next_epoch;
            m.assigned = prune(assigned);
            m.revoking = revoking;
            if m.state != MemberState::UnrevokedPartitions {
                m.revoke_deadline = Some(now + i64::from(m.rebalance_timeout_ms.max(0)));
            }
            m.state = MemberState::UnrevokedPartitions;
            return;
        }
        m.previous_epoch = m.epoch;
        m.epoch = target_epoch;
        m.assigned = prune(union(&assigned, &newly));
        m.revoking.clear();
        m.revoke_deadline = None;
        m.state = if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
    }

    /// Fences members whose session expired, or who did not revoke in time.
    pub fn tick(&mut self, now: i64) -> bool {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.session_deadline <= now || m.revoke_deadline.is_some_and(|d| d <= now))
            .map(|m| m.id.clone())
            .collect();
        for id in &expired {
            self.fence(now, id);
        }
        !expired.is_empty()
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.members
            .values()
            .flat_map(|m| std::iter::once(m.session_deadline).chain(m.revoke_deadline))
            .min()
    }

    /// Checks an OffsetCommit's member and epoch (KIP-848 groups accept no commits from stale
    /// epochs, and none without a member unless the group is empty).
    pub fn validate_commit(&self, member_id: &str, epoch: i32, version: i16) -> Result<(), E> {
        if epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let m = self.members.get(member_id).ok_or(E::UnknownMemberId)?;
        if version < 9 {
            return Err(E::UnsupportedVersion);
        }
        if epoch != m.epoch {
            return Err(E::StaleMemberEpoch);
        }
        Ok(())
    }

    pub fn value(&self) -> ConsumerGroupValue {
        let flat = |a: &Assignment| {
            a.iter()
                .map(|(t, ps)| (*t, ps.iter().copied().collect()))
                .collect()
        };
        ConsumerGroupValue {
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            members: self
                .members
                .values()
                .map(|m| ConsumerMemberValue {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topics: m.subscribed_names.clone(),
                    subscribed_regex: m.regex.clone(),
                    server_assignor: m.assignor.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    member_epoch: m.epoch,
                    previous_member_epoch: m.previous_epoch,
                    assigned: flat(&m.assigned),
                    revoking: flat(&m.revoking),
                })
                .collect(),
            target: self
                .target
                .iter()
                .map(|(id, a)| (id.clone(), flat(a)))
                .collect(),
        }
    }

    pub fn load(
        id: &str,
        v: &ConsumerGroupValue,
        now: i64,
        session_timeout_ms: i64,
    ) -> ConsumerGroup {
        let unflat = |a: &Vec<(Uuid, Vec<i32>)>| -> Assignment {
            a.iter()
                .map(|(t, ps)| (*t, ps.iter().copied().collect()))
                .collect()
        };
        let mut g = ConsumerGroup::new(id, now);
        g.group_epoch = v.group_epoch;
        g.assignment_epoch = v.assignment_epoch;
        g.target = v
            .target
            .iter()
            .map(|(id, a)| (id.clone(), unflat(a)))
            .collect();
        for m in &v.members {
            let revoking = unflat(&m.revoking);
            g.members.insert(
                m.member_id.clone(),
                CMember {
                    id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_names: m.subscribed_topics.clone(),
                    regex: m.subscribed_regex.clone(),
                    assignor: m.server_assignor.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    epoch: m.member_epoch,
                    previous_epoch: m.previous_member_epoch,
                    state: if revoking.is_empty() {
                        MemberState::Stable
                    } else {
                        MemberState::UnrevokedPartitions
                    },
                    assigned: unflat(&m.assigned),
                    revoking,
                    session_deadline: now + session_timeout_ms,
                    revoke_deadline: None,
                },
            );
        }
        g
    }
}

/// The topic ids a member subscribes to: its names plus every topic its regex matches
/// (internal topics excluded), among topics that exist.
pub fn resolve(m: &CMember, topics: &TopicView) -> BTreeSet<Uuid> {
    let mut out: BTreeSet<Uuid> = m
        .subscribed_names
        .iter()
        .filter_map(|n| topics.get(n).map(|(id, _)| *id))
        .collect();
    if let Some(re) = m
        .regex
        .as_deref()
        .and_then(|r| regex::Regex::new(&format!("^(?:{r})$")).ok())
    {
        out.extend(
            topics
                .iter()
                .filter(|(n, _)| !n.starts_with("__") && re.is_match(n))
                .map(|(_, (id, _))| *id),
        );
    }
    out
}

#[cfg(test)]
mod tests;
