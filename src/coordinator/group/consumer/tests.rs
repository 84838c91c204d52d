//! A seeded simulation of KIP-848 members heartbeating against a group: whatever the order of
//! joins, leaves and heartbeats, no partition is ever owned by two members, and a quiet group
//! converges to a full, balanced assignment.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::*;

struct Client {
    id: String,
    epoch: i32,
    owned: Assignment,
    joined: bool,
}

fn owned_pairs(a: &Assignment) -> Vec<(Uuid, i32)> {
    a.iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
        .collect()
}

fn beat(g: &mut ConsumerGroup, c: &mut Client, topics: &TopicView, now: i64, names: &[String]) {
    let req = HeartbeatInput {
        member_id: c.id.clone(),
        member_epoch: if c.joined { c.epoch } else { 0 },
        rebalance_timeout_ms: 30_000,
        subscribed_names: (!c.joined).then(|| names.to_vec()),
        owned: Some(if c.joined {
            c.owned.clone()
        } else {
            Assignment::new()
        }),
        ..HeartbeatInput::default()
    };
    let r = g
        .heartbeat(
            now,
            req,
            topics,
            45_000,
            assignor::UNIFORM,
            || unreachable!(),
        )
        .expect("heartbeat");
    c.joined = true;
    c.epoch = r.member_epoch;
    if let Some(a) = r.assignment {
        c.owned = a;
    }
}

fn check_exclusive(clients: &[Client]) {
    let mut seen = BTreeSet::new();
    for c in clients {
        for p in owned_pairs(&c.owned) {
            assert!(seen.insert(p), "partition {p:?} owned twice");
        }
    }
}

#[test]
fn members_never_share_a_partition_and_converge() {
    for seed in 0..50u64 {
        let mut rng = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let t1 = Uuid::from_u128(1);
        let t2 = Uuid::from_u128(2);
        let topics: TopicView = [("a".to_string(), (t1, 6)), ("b".to_string(), (t2, 3))].into();
        let names = vec!["a".to_string(), "b".to_string()];
        let mut g = ConsumerGroup::new("g", 0);
        let mut clients: Vec<Client> = (0..4)
            .map(|i| Client {
                id: format!("m{i}"),
                epoch: 0,
                owned: Assignment::new(),
                joined: false,
            })
            .collect();
        let mut now = 0;
        for _ in 0..200 {
            now += 10;
            let i = (next() % clients.len() as u64) as usize;
            if next() % 23 == 0 && clients[i].joined {
                // Leave and come back later as a fresh member.
                let c = &mut clients[i];
                let req = HeartbeatInput {
                    member_id: c.id.clone(),
                    member_epoch: -1,
                    ..HeartbeatInput::default()
                };
                g.heartbeat(
                    now,
                    req,
                    &topics,
                    45_000,
                    assignor::UNIFORM,
                    || unreachable!(),
                )
                .expect("leave");
                c.joined = false;
                c.owned.clear();
                c.epoch = 0;
                continue;
            }
            beat(&mut g, &mut clients[i], &topics, now, &names);
            check_exclusive(&clients);
        }
        // Quiet rounds: everyone heartbeats until the group is stable.
        for _ in 0..10 {
            for c in clients.iter_mut() {
                now += 1;
                beat(&mut g, c, &topics, now, &names);
            }
            check_exclusive(&clients);
        }
        assert_eq!(state_name(&g), "Stable", "seed {seed}");
        let all: BTreeSet<(Uuid, i32)> =
            clients.iter().flat_map(|c| owned_pairs(&c.owned)).collect();
        assert_eq!(all.len(), 9, "seed {seed}: every partition owned");
        let loads: Vec<usize> = clients
            .iter()
            .map(|c| owned_pairs(&c.owned).len())
            .collect();
        assert!(
            loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1,
            "seed {seed}: {loads:?}"
        );
    }
}

#[test]
fn epochs_are_checked() {
    let t = Uuid::from_u128(7);
    let topics: TopicView = [("t".to_string(), (t, 2))].into();
    let mut g = ConsumerGroup::new("g", 0);
    let join = HeartbeatInput {
        member_id: "x".into(),
        member_epoch: 0,
        rebalance_timeout_ms: 1000,
        subscribed_names: Some(vec!["t".into()]),
        owned: Some(BTreeMap::new()),
        ..HeartbeatInput::default()
    };
    let r = g
        .heartbeat(
            0,
            join,
            &topics,
            45_000,
            assignor::UNIFORM,
            || unreachable!(),
        )
        .unwrap();
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.assignment.as_ref().map(|a| a[&t].len()), Some(2));
    let ahead = HeartbeatInput {
        member_id: "x".into(),
        member_epoch: 5,
        rebalance_timeout_ms: -1,
        ..HeartbeatInput::default()
    };
    assert_eq!(
        g.heartbeat(
            1,
            ahead,
            &topics,
            45_000,
            assignor::UNIFORM,
            || unreachable!()
        )
        .unwrap_err()
        .0,
        E::FencedMemberEpoch
    );
    let stranger = HeartbeatInput {
        member_id: "y".into(),
        member_epoch: 3,
        rebalance_timeout_ms: -1,
        ..HeartbeatInput::default()
    };
    assert_eq!(
        g.heartbeat(
            1,
            stranger,
            &topics,
            45_000,
            assignor::UNIFORM,
            || unreachable!()
        )
        .unwrap_err()
        .0,
        E::UnknownMemberId
    );
    // Session expiry fences the member.
    assert!(g.tick(50_000));
    assert!(g.members.is_empty());
}
