//! The classic group state machine against Kafka 4.1's rules: two-step join (KIP-394), the
//! leader's assignment reaching every member, generation fencing, errors by state, static
//! members (KIP-345), session expiry and the initial rebalance delay.

use super::*;

const LIMITS: Limits = Limits {
    initial_rebalance_delay_ms: 0,
    max_size: 100,
};

fn input(member_id: &str, version: i16) -> JoinInput {
    JoinInput {
        member_id: member_id.to_string(),
        instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 20_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), vec![1]), ("roundrobin".into(), vec![2])],
        version,
    }
}

fn joins(fx: &[Effect]) -> Vec<(Waiter, JoinResult)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Join(w, r) => Some((*w, r.clone())),
            _ => None,
        })
        .collect()
}

fn syncs(fx: &[Effect]) -> Vec<(Waiter, SyncResult)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Sync(w, r) => Some((*w, r.clone())),
            _ => None,
        })
        .collect()
}

fn ids() -> impl FnMut(&str) -> String {
    let mut n = 0;
    move |p: &str| {
        n += 1;
        format!("{p}-{n}")
    }
}

/// Joins `n` dynamic members with the two-step join and returns their ids (group Stable after
/// the leader syncs). An initial delay lets all of them into the first generation (with no
/// delay the first rejoin completes a generation alone, as in Kafka).
fn stable_group(n: usize) -> (ClassicGroup, Vec<String>) {
    let mut g = ClassicGroup::new("g", 0, 100);
    let mut next = ids();
    let mut members = Vec::new();
    for i in 0..n {
        let fx = g.join(0, input("", 5), i as u64, &LIMITS, &mut next);
        let (_, r) = joins(&fx).pop().expect("answer");
        assert_eq!(r.error, Some(E::MemberIdRequired));
        members.push(r.member_id);
    }
    let mut answers = Vec::new();
    for (i, id) in members.iter().enumerate() {
        answers.extend(joins(&g.join(
            1,
            input(id, 5),
            100 + i as u64,
            &LIMITS,
            &mut next,
        )));
    }
    assert!(
        joins(&g.tick(50)).is_empty(),
        "the initial delay holds the first generation"
    );
    // Members kept arriving during the delay: it is extended once more before completing.
    answers.extend(joins(&g.tick(1000)));
    answers.extend(joins(&g.tick(2000)));
    assert_eq!(
        answers.len(),
        n,
        "every member answered once the join completed"
    );
    assert_eq!(g.state, State::CompletingRebalance);
    let leader = g.leader.clone().expect("leader");
    let leader_answer = answers
        .iter()
        .find(|(_, r)| r.member_id == leader)
        .expect("leader answered");
    assert_eq!(
        leader_answer.1.members.len(),
        n,
        "the leader sees every member"
    );
    assert!(
        answers
            .iter()
            .filter(|(_, r)| r.member_id != leader)
            .all(|(_, r)| r.members.is_empty())
    );
    assert_eq!(leader_answer.1.protocol_name.as_deref(), Some("range"));
    // Followers sync first and wait; the leader's sync answers everyone.
    for (i, id) in members.iter().filter(|m| **m != leader).enumerate() {
        let fx = g.sync(
            3,
            SyncInput {
                member_id: id.clone(),
                instance_id: None,
                generation: 1,
                protocol_type: None,
                protocol_name: None,
                assignments: vec![],
            },
            200 + i as u64,
        );
        assert!(syncs(&fx).is_empty(), "followers wait for the leader");
    }
    let assignments = members
        .iter()
        .map(|m| (m.clone(), m.as_bytes().to_vec()))
        .collect();
    let fx = g.sync(
        4,
        SyncInput {
            member_id: leader.clone(),
            instance_id: None,
            generation: 1,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments,
        },
        999,
    );
    let done = syncs(&fx);
    assert_eq!(done.len(), n);
    assert!(done.iter().all(|(_, r)| r.error.is_none()));
    assert!(fx.iter().any(|e| matches!(e, Effect::Persist(_))));
    assert_eq!(g.state, State::Stable);
    (g, members)
}

#[test]
fn two_step_join_and_sync() {
    let (g, members) = stable_group(3);
    assert_eq!(g.generation, 1);
    for m in &members {
        assert_eq!(
            g.members[m].assignment,
            m.as_bytes(),
            "each member got its own assignment"
        );
    }
}

#[test]
fn heartbeat_and_commit_errors_by_state() {
    let (mut g, members) = stable_group(2);
    let m = &members[0];
    assert_eq!(g.heartbeat(5, m, None, 1), Ok(()));
    assert_eq!(g.heartbeat(5, m, None, 0), Err(E::IllegalGeneration));
    assert_eq!(g.heartbeat(5, "nobody", None, 1), Err(E::UnknownMemberId));
    assert_eq!(g.validate_commit(5, m, None, 1), Ok(()));
    assert_eq!(g.validate_commit(5, m, None, 7), Err(E::IllegalGeneration));
    assert_eq!(
        g.validate_commit(5, "", None, -1),
        Err(E::UnknownMemberId),
        "a standalone commit to a live group"
    );
    // A new member triggers a rebalance: heartbeats say so, commits of the old generation pass.
    let mut next = ids();
    let _ = g.join(6, input("", 3), 50, &LIMITS, &mut next);
    assert_eq!(g.state, State::PreparingRebalance);
    assert_eq!(g.heartbeat(6, m, None, 1), Err(E::RebalanceInProgress));
    assert_eq!(g.validate_commit(6, m, None, 1), Ok(()));
    // Everyone rejoins: CompletingRebalance refuses commits, accepts heartbeats.
    for (i, id) in members.iter().enumerate() {
        let _ = g.join(7, input(id, 5), 60 + i as u64, &LIMITS, &mut next);
    }
    assert_eq!(g.state, State::CompletingRebalance);
    assert_eq!(g.generation, 2);
    assert_eq!(
        g.validate_commit(7, m, None, 2),
        Err(E::RebalanceInProgress)
    );
    assert_eq!(g.heartbeat(7, m, None, 2), Ok(()));
    let fx = g.sync(
        8,
        SyncInput {
            member_id: m.clone(),
            instance_id: None,
            generation: 1,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![],
        },
        70,
    );
    assert_eq!(syncs(&fx)[0].1.error, Some(E::IllegalGeneration));
}

#[test]
fn leave_and_expiry_rebalance() {
    let (mut g, members) = stable_group(3);
    let (errors, _) = g.leave(10, &[(members[2].clone(), None), ("ghost".into(), None)]);
    assert_eq!(errors, vec![None, Some(E::UnknownMemberId)]);
    assert_eq!(g.state, State::PreparingRebalance);
    // The remaining members never rejoin: at the rebalance timeout they are dropped.
    let fx = g.tick(10 + 20_000);
    assert!(joins(&fx).is_empty());
    assert_eq!(g.state, State::Empty);
    assert!(g.members.is_empty());
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Persist(v) if v.members.is_empty()))
    );
}

#[test]
fn session_expiry_removes_a_silent_member() {
    let (mut g, members) = stable_group(2);
    assert_eq!(g.heartbeat(9_000, &members[0], None, 1), Ok(()));
    let _ = g.tick(4 + 10_001);
    assert!(
        !g.members.contains_key(&members[1]),
        "the silent member expired"
    );
    assert!(g.members.contains_key(&members[0]));
    assert_eq!(g.state, State::PreparingRebalance);
}

#[test]
fn static_member_returns_without_rebalance() {
    let mut g = ClassicGroup::new("g", 0, 100);
    let mut next = ids();
    let mut a = input("", 5);
    a.instance_id = Some("ia".into());
    let mut b = input("", 5);
    b.instance_id = Some("ib".into());
    let ja = joins(&g.join(0, a.clone(), 1, &LIMITS, &mut next));
    assert!(ja.is_empty(), "static members need no member id round trip");
    let jb = joins(&g.join(0, b.clone(), 2, &LIMITS, &mut next));
    let mut all = ja;
    all.extend(jb);
    all.extend(joins(&g.tick(1000)));
    all.extend(joins(&g.tick(2000)));
    assert_eq!(all.len(), 2);
    let leader = g.leader.clone().unwrap();
    let follower = g.members.keys().find(|k| **k != leader).cloned().unwrap();
    let fol_instance = g.members[&follower].instance_id.clone().unwrap();
    let assignments = g
        .members
        .keys()
        .map(|k| (k.clone(), k.as_bytes().to_vec()))
        .collect();
    let _ = g.sync(
        2,
        SyncInput {
            member_id: leader.clone(),
            instance_id: g.members[&leader].instance_id.clone(),
            generation: 1,
            protocol_type: None,
            protocol_name: None,
            assignments,
        },
        3,
    );
    let _ = g.sync(
        2,
        SyncInput {
            member_id: follower.clone(),
            instance_id: Some(fol_instance.clone()),
            generation: 1,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![],
        },
        4,
    );
    assert_eq!(g.state, State::Stable);
    let old_assignment = g.members[&follower].assignment.clone();
    // The follower restarts and rejoins with an empty member id: same generation, same
    // assignment, no rebalance, a new member id.
    let mut again = input("", 5);
    again.instance_id = Some(fol_instance.clone());
    let fx = g.join(5, again, 5, &LIMITS, &mut next);
    let (_, r) = joins(&fx).pop().expect("answered at once");
    assert_eq!(r.error, None);
    assert_eq!(r.generation, 1);
    assert_ne!(r.member_id, follower);
    assert_eq!(g.state, State::Stable);
    assert_eq!(g.members[&r.member_id].assignment, old_assignment);
    // The old identity is fenced.
    assert_eq!(
        g.heartbeat(6, &follower, Some(&fol_instance), 1),
        Err(E::FencedInstanceId)
    );
    assert_eq!(g.heartbeat(6, &r.member_id, Some(&fol_instance), 1), Ok(()));
}

#[test]
fn initial_delay_waits_for_more_members() {
    let mut g = ClassicGroup::new("g", 0, 3000);
    let mut next = ids();
    let _ = g.join(0, input("", 3), 1, &LIMITS, &mut next);
    assert!(
        joins(&g.tick(1000)).is_empty(),
        "still in the initial delay"
    );
    let _ = g.join(2000, input("", 3), 2, &LIMITS, &mut next);
    // A member arrived during the delay: it extends by another delay.
    assert!(joins(&g.tick(3000)).is_empty());
    assert_eq!(joins(&g.tick(6001)).len(), 2);
    assert_eq!(g.state, State::CompletingRebalance);
}

#[test]
fn inconsistent_protocols_are_refused() {
    let (mut g, _) = stable_group(1);
    let mut other = input("", 3);
    other.protocols = vec![("sticky".into(), vec![])];
    let mut next = ids();
    let (_, r) = joins(&g.join(9, other, 1, &LIMITS, &mut next))
        .pop()
        .unwrap();
    assert_eq!(r.error, Some(E::InconsistentGroupProtocol));
}
