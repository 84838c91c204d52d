//! JoinGroup and the rebalance it starts: members join (new, known or static), the group waits
//! for every member or the rebalance timeout, picks a protocol and a leader, and answers the
//! parked joins.

use super::*;

impl ClassicGroup {
    /// Handles a JoinGroup. `new_id` makes member ids (`clientId-UUID`).
    pub fn join(
        &mut self,
        now: i64,
        input: JoinInput,
        waiter: Waiter,
        limits: &Limits,
        new_id: impl FnOnce(&str) -> String,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let reply_now = |fx: &mut Vec<Effect>, r: JoinResult| fx.push(Effect::Join(waiter, r));
        if !self.accepts_new_member(&input.member_id, limits) {
            reply_now(&mut fx, JoinResult::error(E::GroupMaxSizeReached, ""));
            return fx;
        }
        if self.state == State::Dead {
            reply_now(
                &mut fx,
                JoinResult::error(E::CoordinatorNotAvailable, &input.member_id),
            );
            return fx;
        }
        if !self.supports(&input.protocol_type, &input.protocols) {
            reply_now(
                &mut fx,
                JoinResult::error(E::InconsistentGroupProtocol, &input.member_id),
            );
            return fx;
        }
        if input.member_id.is_empty() {
            match input.instance_id.clone() {
                Some(instance) if self.statics.contains_key(&instance) => {
                    self.rejoin_static(now, input, instance, waiter, new_id, &mut fx);
                }
                Some(instance) => {
                    let id = new_id(&instance);
                    self.add_member(now, id, input, waiter, &mut fx);
                }
                None if input.version >= 4 => {
                    // KIP-394: hand out an id and wait for the client to come back with it.
                    let id = new_id(&input.client_id);
                    self.pending
                        .insert(id.clone(), now + i64::from(input.session_timeout_ms));
                    reply_now(&mut fx, JoinResult::error(E::MemberIdRequired, &id));
                }
                None => {
                    let id = new_id(&input.client_id);
                    self.add_member(now, id, input, waiter, &mut fx);
                }
            }
            self.complete_if_ready(now, &mut fx);
            return fx;
        }
        if self.pending.remove(&input.member_id).is_some() {
            let id = input.member_id.clone();
            self.add_member(now, id, input, waiter, &mut fx);
            self.complete_if_ready(now, &mut fx);
            return fx;
        }
        if let Err(e) = self.validate_member(&input.member_id, input.instance_id.as_deref()) {
            reply_now(&mut fx, JoinResult::error(e, &input.member_id));
            return fx;
        }
        let id = input.member_id.clone();
        let changed = self
            .members
            .get(&id)
            .is_some_and(|m| m.protocols != input.protocols);
        let is_leader = self.leader.as_deref() == Some(id.as_str());
        match self.state {
            State::PreparingRebalance => {
                self.update_member(&id, &input, Some((waiter, input.version)));
                self.complete_if_ready(now, &mut fx);
            }
            State::CompletingRebalance if !changed => {
                let r = self.join_result_for(&id, false);
                reply_now(&mut fx, r);
            }
            State::Stable if !is_leader && !changed => {
                let mut r = self.join_result_for(&id, false);
                r.members.clear();
                reply_now(&mut fx, r);
            }
            State::CompletingRebalance | State::Stable => {
                self.update_member(&id, &input, Some((waiter, input.version)));
                self.prepare_rebalance(now, &mut fx);
            }
            State::Empty | State::Dead => {
                reply_now(&mut fx, JoinResult::error(E::UnknownMemberId, &id))
            }
        }
        self.complete_if_ready(now, &mut fx);
        fx
    }

    pub(super) fn update_member(
        &mut self,
        id: &str,
        input: &JoinInput,
        waiter: Option<(Waiter, i16)>,
    ) {
        if let Some(m) = self.members.get_mut(id) {
            m.protocols = input.protocols.clone();
            m.protocol_type = input.protocol_type.clone();
            m.session_timeout_ms = input.session_timeout_ms;
            m.rebalance_timeout_ms = input.rebalance_timeout_ms;
            m.client_id = input.client_id.clone();
            m.client_host = input.client_host.clone();
            if waiter.is_some() {
                m.join_waiter = waiter;
            }
        }
    }

    pub(super) fn add_member(
        &mut self,
        now: i64,
        id: String,
        input: JoinInput,
        waiter: Waiter,
        fx: &mut Vec<Effect>,
    ) {
        if self.members.is_empty() {
            self.protocol_type = Some(input.protocol_type.clone());
        }
        if let Some(i) = &input.instance_id {
            self.statics.insert(i.clone(), id.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(id.clone());
        }
        self.members.insert(
            id.clone(),
            Member {
                id,
                instance_id: input.instance_id,
                client_id: input.client_id,
                client_host: input.client_host,
                rebalance_timeout_ms: input.rebalance_timeout_ms,
                session_timeout_ms: input.session_timeout_ms,
                protocol_type: input.protocol_type,
                protocols: input.protocols,
                assignment: Vec::new(),
                join_waiter: Some((waiter, input.version)),
                sync_waiter: None,
                heartbeat_deadline: now + NEW_MEMBER_JOIN_TIMEOUT_MS,
                is_new: true,
            },
        );
        if let Some(init) = self
            .initial
            .as_mut()
            .filter(|_| self.state == State::PreparingRebalance)
        {
            init.new_member_added = true;
        }
        if matches!(
            self.state,
            State::Empty | State::Stable | State::CompletingRebalance
        ) {
            self.prepare_rebalance(now, fx);
        }
    }

    /// A known static member rejoins with an empty member id (KIP-345): it replaces its old
    /// identity, keeping the old assignment.
    pub(super) fn rejoin_static(
        &mut self,
        now: i64,
        input: JoinInput,
        instance: String,
        waiter: Waiter,
        new_id: impl FnOnce(&str) -> String,
        fx: &mut Vec<Effect>,
    ) {
        let Some(old_id) = self.statics.get(&instance).cloned() else {
            return;
        };
        let Some(mut member) = self.members.shift_remove(&old_id) else {
            return;
        };
        if let Some((w, _)) = member.join_waiter.take() {
            fx.push(Effect::Join(
                w,
                JoinResult::error(E::FencedInstanceId, &old_id),
            ));
        }
        if let Some(w) = member.sync_waiter.take() {
            fx.push(Effect::Sync(w, SyncResult::error(E::FencedInstanceId)));
        }
        let id = new_id(&instance);
        let was_leader = self.leader.as_deref() == Some(old_id.as_str());
        let old_leader = self.leader.clone().unwrap_or_default();
        if was_leader {
            self.leader = Some(id.clone());
        }
        self.pending_sync.remove(&old_id);
        let protocols_changed = member.protocols != input.protocols;
        member.id = id.clone();
        member.protocols = input.protocols.clone();
        member.protocol_type = input.protocol_type.clone();
        member.session_timeout_ms = input.session_timeout_ms;
        member.rebalance_timeout_ms = input.rebalance_timeout_ms;
        member.heartbeat_deadline = now + i64::from(input.session_timeout_ms);
        self.members.insert(id.clone(), member);
        self.statics.insert(instance, id.clone());
        match self.state {
            State::Stable if !protocols_changed || self.select_protocol() == self.protocol => {
                // No rebalance: the member continues with its old assignment.
                fx.push(Effect::Persist(self.value()));
                let mut r = self.join_result_for(&id, false);
                if input.version >= 9 {
                    r.skip_assignment = was_leader;
                    if !was_leader {
                        r.members.clear();
                    }
                } else {
                    // Older clients are told the old leader id, so a returning leader does not
                    // reassign the group.
                    r.leader = old_leader;
                    r.members.clear();
                }
                fx.push(Effect::Join(waiter, r));
            }
            State::PreparingRebalance => {
                if let Some(m) = self.members.get_mut(&id) {
                    m.join_waiter = Some((waiter, input.version));
                }
            }
            _ => {
                if let Some(m) = self.members.get_mut(&id) {
                    m.join_waiter = Some((waiter, input.version));
                }
                self.prepare_rebalance(now, fx);
            }
        }
    }

    /// The answer a member gets at the current generation.
    pub(super) fn join_result_for(&self, id: &str, skip: bool) -> JoinResult {
        let protocol = self.protocol.clone();
        let is_leader = self.leader.as_deref() == Some(id);
        JoinResult {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: id.to_string(),
            skip_assignment: skip,
            members: if is_leader {
                let p = protocol.unwrap_or_default();
                self.members
                    .values()
                    .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&p)))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    pub(super) fn prepare_rebalance(&mut self, now: i64, fx: &mut Vec<Effect>) {
        if self.state == State::CompletingRebalance {
            for m in self.members.values_mut() {
                m.assignment.clear();
                if let Some(w) = m.sync_waiter.take() {
                    fx.push(Effect::Sync(w, SyncResult::error(E::RebalanceInProgress)));
                }
            }
        }
        self.pending_sync.clear();
        self.sync_deadline = None;
        let from_empty = self.state == State::Empty;
        self.transition(State::PreparingRebalance, now);
        if from_empty {
            let delay = 0i64.max(self.initial_delay_ms);
            let remaining = (self.rebalance_timeout() - delay).max(0);
            self.initial = Some(InitialDelay {
                delay,
                remaining,
                new_member_added: false,
            });
            self.join_deadline = Some(now + delay);
        } else {
            self.initial = None;
            self.join_deadline = Some(now + self.rebalance_timeout());
        }
    }

    pub(super) fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    /// Completes the join phase if every member rejoined (not during the initial delay) or the
    /// deadline passed.
    pub(super) fn complete_if_ready(&mut self, now: i64, fx: &mut Vec<Effect>) {
        if self.state != State::PreparingRebalance {
            return;
        }
        let due = self.join_deadline.is_some_and(|d| now >= d);
        if let Some(init) = self.initial.as_mut() {
            if !due {
                return;
            }
            if init.new_member_added && init.remaining > 0 {
                // New members keep arriving: extend the initial delay, up to the rebalance timeout.
                init.new_member_added = false;
                let next = init.delay.min(init.remaining);
                init.remaining = (init.remaining - init.delay).max(0);
                self.join_deadline = Some(now + next);
                return;
            }
        } else if !(self.all_joined() || due) {
            return;
        }
        self.complete_join(now, fx);
    }

    pub(super) fn complete_join(&mut self, now: i64, fx: &mut Vec<Effect>) {
        self.join_deadline = None;
        self.initial = None;
        // Dynamic members that did not rejoin go; static ones stay.
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id, fx);
        }
        let leader_rejoined = self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.get(l).is_some_and(|m| m.join_waiter.is_some()));
        if !self.members.is_empty() && !leader_rejoined {
            self.leader = self
                .members
                .values()
                .find(|m| m.join_waiter.is_some())
                .map(|m| m.id.clone());
            if self.leader.is_none() {
                // Only static members that have not rejoined: wait another rebalance timeout.
                self.join_deadline = Some(now + self.rebalance_timeout());
                return;
            }
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.transition(State::Empty, now);
            fx.push(Effect::Persist(self.value()));
            return;
        }
        self.protocol = self.select_protocol();
        self.transition(State::CompletingRebalance, now);
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.join_result_for(&id, false);
            if let Some(m) = self.members.get_mut(&id) {
                if let Some((w, _)) = m.join_waiter.take() {
                    fx.push(Effect::Join(w, result));
                }
                m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
                m.is_new = false;
            }
            self.pending_sync.insert(id);
        }
        self.sync_deadline = Some(now + self.rebalance_timeout());
    }

    /// Kafka's `selectProtocol`: each member votes for its first protocol all members support.
    pub(super) fn select_protocol(&self) -> Option<String> {
        let candidates: Vec<&String> = self
            .members
            .values()
            .next()?
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(mn, _)| mn == *n))
            })
            .collect();
        let mut votes: IndexMap<&String, usize> = IndexMap::new();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n)) {
                *votes.entry(n).or_default() += 1;
            }
        }
        votes
            .iter()
            .max_by_key(|(_, v)| **v)
            .map(|(n, _)| (*n).clone())
    }

    pub(super) fn remove_member(&mut self, id: &str, fx: &mut Vec<Effect>) {
        let Some(mut m) = self.members.shift_remove(id) else {
            return;
        };
        if let Some((w, _)) = m.join_waiter.take() {
            fx.push(Effect::Join(w, JoinResult::error(E::UnknownMemberId, id)));
        }
        if let Some(w) = m.sync_waiter.take() {
            fx.push(Effect::Sync(w, SyncResult::error(E::UnknownMemberId)));
        }
        if let Some(i) = &m.instance_id {
            self.statics.remove(i);
        }
        self.pending_sync.remove(id);
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.keys().next().cloned();
        }
    }
}
