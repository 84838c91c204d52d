//! A classic consumer group (JoinGroup / SyncGroup / Heartbeat / LeaveGroup), as Kafka 4.1's
//! `ClassicGroup` and `GroupMetadataManager` run it. Sans-IO: every event takes the time and
//! returns effects (answers to parked requests, records to persist); the driver in
//! `coordinator::group` does the I/O.
//!
//! ```text
//!  Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
//!    ▲                 ▲      │                                    │ leader's SyncGroup
//!    └── no members ───┘      └── member left/expired/rejoined ◀── Stable ◀┘
//! ```

use std::collections::{BTreeSet, HashMap};

use indexmap::IndexMap;
use kafka_protocol::error::ResponseError as E;

use super::records::{ClassicGroupValue, ClassicMemberValue};

/// Identifies a parked request; the driver maps it to the waiting caller.
pub type Waiter = u64;

/// Kafka's `CLASSIC_GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS`: the heartbeat deadline of a member until
/// its first join completes (it cannot heartbeat while parked in JoinGroup).
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: i64 = 300_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Empty => "Empty",
            State::PreparingRebalance => "PreparingRebalance",
            State::CompletingRebalance => "CompletingRebalance",
            State::Stable => "Stable",
            State::Dead => "Dead",
        }
    }
}

/// Group-level settings the coordinator passes in.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub initial_rebalance_delay_ms: i64,
    pub max_size: usize,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Vec<u8>)>,
    pub assignment: Vec<u8>,
    join_waiter: Option<(Waiter, i16)>,
    sync_waiter: Option<Waiter>,
    heartbeat_deadline: i64,
    is_new: bool,
}

impl Member {
    /// The member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Vec<u8> {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// What a JoinGroup request carries.
#[derive(Debug, Clone)]
pub struct JoinInput {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Vec<u8>)>,
    pub version: i16,
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub error: Option<E>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    pub skip_assignment: bool,
    /// For the leader: (member id, instance id, metadata of the chosen protocol).
    pub members: Vec<(String, Option<String>, Vec<u8>)>,
}

impl JoinResult {
    pub fn error(e: E, member_id: &str) -> JoinResult {
        JoinResult {
            error: Some(e),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            skip_assignment: false,
            members: Vec::new(),
        }
    }
}

/// What a SyncGroup request carries.
#[derive(Debug, Clone)]
pub struct SyncInput {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Vec<u8>)>,
}

/// A SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub error: Option<E>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Vec<u8>,
}

impl SyncResult {
    pub fn error(e: E) -> SyncResult {
        SyncResult {
            error: Some(e),
            protocol_type: None,
            protocol_name: None,
            assignment: Vec::new(),
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Join(Waiter, JoinResult),
    Sync(Waiter, SyncResult),
    /// Persist the group's metadata (after a completed rebalance or a change of membership).
    Persist(ClassicGroupValue),
}

#[derive(Debug, Clone)]
struct InitialDelay {
    delay: i64,
    remaining: i64,
    new_member_added: bool,
}

#[derive(Debug, Clone)]
pub struct ClassicGroup {
    pub id: String,
    pub state: State,
    prev_state: State,
    pub state_since_ms: i64,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: IndexMap<String, Member>,
    /// KIP-394 members: given an id, not yet rejoined with it (id → deadline).
    pending: HashMap<String, i64>,
    statics: HashMap<String, String>,
    pending_sync: BTreeSet<String>,
    join_deadline: Option<i64>,
    sync_deadline: Option<i64>,
    initial: Option<InitialDelay>,
    /// `group.initial.rebalance.delay.ms`.
    initial_delay_ms: i64,
}

impl ClassicGroup {
    pub fn new(id: &str, now: i64, initial_delay_ms: i64) -> ClassicGroup {
        ClassicGroup {
            id: id.to_string(),
            state: State::Empty,
            prev_state: State::Empty,
            state_since_ms: now,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: IndexMap::new(),
            pending: HashMap::new(),
            statics: HashMap::new(),
            pending_sync: BTreeSet::new(),
            join_deadline: None,
            sync_deadline: None,
            initial: None,
            initial_delay_ms,
        }
    }

    /// Rebuilds a group from its persisted metadata: Stable with members, Empty without.
    pub fn load(id: &str, v: &ClassicGroupValue, now: i64, initial_delay_ms: i64) -> ClassicGroup {
        let mut g = ClassicGroup::new(id, v.current_state_timestamp, initial_delay_ms);
        g.generation = v.generation;
        g.protocol_type = Some(v.protocol_type.clone()).filter(|t| !t.is_empty());
        g.protocol = v.protocol.clone();
        g.leader = v.leader.clone();
        for m in &v.members {
            let protocols = match &v.protocol {
                Some(p) => vec![(p.clone(), m.subscription.clone())],
                None => Vec::new(),
            };
            if let Some(i) = &m.instance_id {
                g.statics.insert(i.clone(), m.member_id.clone());
            }
            g.members.insert(
                m.member_id.clone(),
                Member {
                    id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    protocol_type: v.protocol_type.clone(),
                    protocols,
                    assignment: m.assignment.clone(),
                    join_waiter: None,
                    sync_waiter: None,
                    heartbeat_deadline: now + i64::from(m.session_timeout_ms),
                    is_new: false,
                },
            );
        }
        if !g.members.is_empty() {
            g.state = State::Stable;
        }
        g
    }

    /// The persisted form of the group.
    pub fn value(&self) -> ClassicGroupValue {
        let protocol = self.protocol.clone().unwrap_or_default();
        ClassicGroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_since_ms,
            members: self
                .members
                .values()
                .map(|m| ClassicMemberValue {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.state == State::Empty
    }

    /// Topics the members subscribe to, when every subscription parses as a consumer protocol
    /// subscription (for offset expiry and OffsetDelete).
    pub fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol.as_deref()?;
        let mut out = BTreeSet::new();
        for m in self.members.values() {
            out.extend(super::consumer_protocol::subscription_topics(
                &m.metadata(protocol),
            )?);
        }
        Some(out)
    }

    fn transition(&mut self, to: State, now: i64) {
        self.prev_state = self.state;
        self.state = to;
        self.state_since_ms = now;
    }

    fn rebalance_timeout(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Kafka's `supportsProtocols`.
    fn supports(&self, protocol_type: &str, protocols: &[(String, Vec<u8>)]) -> bool {
        if self.state == State::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(n, _)| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(mn, _)| mn == n))
            })
    }

    fn accepts_new_member(&self, member_id: &str, limits: &Limits) -> bool {
        match self.state {
            State::Empty | State::Dead => true,
            State::PreparingRebalance => {
                self.members
                    .get(member_id)
                    .is_some_and(|m| m.join_waiter.is_some())
                    || self
                        .members
                        .values()
                        .filter(|m| m.join_waiter.is_some())
                        .count()
                        < limits.max_size
            }
            State::CompletingRebalance | State::Stable => {
                self.members.contains_key(member_id) || self.members.len() < limits.max_size
            }
        }
    }

    /// Kafka's `validateMember`.
    fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), E> {
        if let Some(i) = instance_id {
            return match self.statics.get(i) {
                None => Err(E::UnknownMemberId),
                Some(m) if m != member_id => Err(E::FencedInstanceId),
                Some(_) => Ok(()),
            };
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(E::UnknownMemberId)
        }
    }

    /// Handles a SyncGroup.
    pub fn sync(&mut self, now: i64, input: SyncInput, waiter: Waiter) -> Vec<Effect> {
        let SyncInput {
            member_id,
            instance_id,
            generation,
            protocol_type,
            protocol_name,
            assignments,
        } = input;
        let (member_id, instance_id) = (member_id.as_str(), instance_id.as_deref());
        let (protocol_type, protocol_name) = (protocol_type.as_deref(), protocol_name.as_deref());
        let mut fx = Vec::new();
        let fail = |e: E| vec![Effect::Sync(waiter, SyncResult::error(e))];
        if self.state == State::Empty {
            return fail(E::UnknownMemberId);
        }
        if self.state == State::Dead {
            return fail(E::CoordinatorNotAvailable);
        }
        if let Err(e) = self.validate_member(member_id, instance_id) {
            return fail(e);
        }
        if generation != self.generation {
            return fail(E::IllegalGeneration);
        }
        let mismatch = |req: Option<&str>, ours: &Option<String>| {
            req.is_some_and(|r| ours.as_deref().is_some_and(|o| o != r))
        };
        if mismatch(protocol_type, &self.protocol_type) || mismatch(protocol_name, &self.protocol) {
            return fail(E::InconsistentGroupProtocol);
        }
        match self.state {
            State::PreparingRebalance => fail(E::RebalanceInProgress),
            State::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(member_id) {
                    m.sync_waiter = Some(waiter);
                    m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
                }
                self.pending_sync.remove(member_id);
                if self.leader.as_deref() == Some(member_id) {
                    let mut given: HashMap<String, Vec<u8>> = assignments.into_iter().collect();
                    for m in self.members.values_mut() {
                        m.assignment = given.remove(&m.id).unwrap_or_default();
                    }
                    fx.push(Effect::Persist(self.value()));
                    self.transition(State::Stable, now);
                    self.sync_deadline = None;
                    let (pt, pn) = (self.protocol_type.clone(), self.protocol.clone());
                    for m in self.members.values_mut() {
                        if let Some(w) = m.sync_waiter.take() {
                            fx.push(Effect::Sync(
                                w,
                                SyncResult {
                                    error: None,
                                    protocol_type: pt.clone(),
                                    protocol_name: pn.clone(),
                                    assignment: m.assignment.clone(),
                                },
                            ));
                            m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
                        }
                    }
                }
                fx
            }
            State::Stable => {
                let assignment = self.members.get_mut(member_id).map(|m| {
                    m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
                    m.assignment.clone()
                });
                self.pending_sync.remove(member_id);
                vec![Effect::Sync(
                    waiter,
                    SyncResult {
                        error: None,
                        protocol_type: self.protocol_type.clone(),
                        protocol_name: self.protocol.clone(),
                        assignment: assignment.unwrap_or_default(),
                    },
                )]
            }
            State::Empty | State::Dead => fail(E::UnknownMemberId),
        }
    }

    /// Handles a Heartbeat.
    pub fn heartbeat(
        &mut self,
        now: i64,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), E> {
        if self.state == State::Dead {
            return Err(E::CoordinatorNotAvailable);
        }
        self.validate_member(member_id, instance_id)?;
        if generation != self.generation {
            return Err(E::IllegalGeneration);
        }
        let deadline = self
            .members
            .get(member_id)
            .map(|m| now + i64::from(m.session_timeout_ms));
        if let (Some(m), Some(d)) = (self.members.get_mut(member_id), deadline) {
            m.heartbeat_deadline = d;
        }
        match self.state {
            State::Empty => Err(E::UnknownMemberId),
            State::PreparingRebalance => Err(E::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Handles LeaveGroup for each (member id, instance id); returns per-member errors.
    pub fn leave(
        &mut self,
        now: i64,
        members: &[(String, Option<String>)],
    ) -> (Vec<Option<E>>, Vec<Effect>) {
        let mut fx = Vec::new();
        if self.state == State::Dead {
            return (
                members
                    .iter()
                    .map(|_| Some(E::CoordinatorNotAvailable))
                    .collect(),
                fx,
            );
        }
        let mut left = false;
        let mut errors = Vec::with_capacity(members.len());
        for (member_id, instance_id) in members {
            let target = if member_id.is_empty() {
                match instance_id.as_ref().and_then(|i| self.statics.get(i)) {
                    Some(id) => Ok(id.clone()),
                    None => Err(E::UnknownMemberId),
                }
            } else if self.pending.remove(member_id).is_some() {
                errors.push(None);
                continue;
            } else {
                self.validate_member(member_id, instance_id.as_deref())
                    .map(|()| member_id.clone())
            };
            match target {
                Ok(id) => {
                    self.remove_member(&id, &mut fx);
                    left = true;
                    errors.push(None);
                }
                Err(e) => errors.push(Some(e)),
            }
        }
        if left {
            match self.state {
                State::Stable | State::CompletingRebalance => {
                    self.prepare_rebalance(now, &mut fx);
                    self.complete_if_ready(now, &mut fx);
                }
                State::PreparingRebalance => self.complete_if_ready(now, &mut fx),
                _ => {}
            }
        }
        (errors, fx)
    }

    /// Checks an OffsetCommit against the group; on success the member's session is refreshed.
    pub fn validate_commit(
        &mut self,
        now: i64,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), E> {
        if self.state == State::Dead {
            return Err(E::CoordinatorNotAvailable);
        }
        if generation < 0 && self.state == State::Empty {
            return Ok(());
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            self.validate_member(member_id, instance_id)?;
            if generation != self.generation {
                return Err(E::IllegalGeneration);
            }
        } else {
            return Err(E::UnknownMemberId);
        }
        if self.state == State::CompletingRebalance {
            return Err(E::RebalanceInProgress);
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
        }
        Ok(())
    }

    /// Checks a transactional offset commit (TxnOffsetCommit, KIP-447): a commit with no
    /// member information is accepted in any state; with some, the member and generation must
    /// match. A rebalance in progress does not refuse it.
    pub fn validate_txn_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), E> {
        if self.state == State::Dead {
            return Err(E::CoordinatorNotAvailable);
        }
        if generation < 0 && self.state == State::Empty {
            return Ok(());
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            self.validate_member(member_id, instance_id)?;
            if generation != self.generation {
                return Err(E::IllegalGeneration);
            }
        }
        Ok(())
    }

    /// Expires sessions, pending members and phase deadlines.
    pub fn tick(&mut self, now: i64) -> Vec<Effect> {
        let mut fx = Vec::new();
        let expired_pending: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired_pending {
            self.pending.remove(&id);
        }
        // Members parked in JoinGroup or SyncGroup are covered by the phase deadlines instead.
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.heartbeat_deadline <= now
                    && (m.is_new || (m.join_waiter.is_none() && m.sync_waiter.is_none()))
            })
            .map(|m| m.id.clone())
            .collect();
        let any = !expired.is_empty();
        for id in expired {
            self.remove_member(&id, &mut fx);
        }
        if any {
            match self.state {
                State::Stable | State::CompletingRebalance => self.prepare_rebalance(now, &mut fx),
                _ => {}
            }
        }
        if self.sync_deadline.is_some_and(|d| now >= d)
            && matches!(self.state, State::CompletingRebalance | State::Stable)
        {
            self.sync_deadline = None;
            let missing: Vec<String> = self.pending_sync.iter().cloned().collect();
            if !missing.is_empty() {
                for id in &missing {
                    self.remove_member(id, &mut fx);
                }
                self.prepare_rebalance(now, &mut fx);
            }
        }
        self.complete_if_ready(now, &mut fx);
        fx
    }

    /// The earliest moment `tick` has something to do, if any.
    pub fn next_deadline(&self) -> Option<i64> {
        let members = self.members.values().map(|m| m.heartbeat_deadline);
        let pending = self.pending.values().copied();
        members
            .chain(pending)
            .chain(self.join_deadline)
            .chain(self.sync_deadline)
            .min()
    }

    /// Marks the group deleted (DeleteGroups).
    pub fn set_dead(&mut self, now: i64) {
        self.transition(State::Dead, now);
    }
}

mod join;

#[cfg(test)]
mod tests;
