//! Server-side assignors of the consumer protocol (KIP-848): `uniform` (the default) and `range`.
//!
//! Both take the members with their subscribed topic ids, the partition counts, and the current
//! target assignment, and return a new target. `uniform` keeps what it can of the current target
//! (sticky) and balances members to within one partition of each other among the subscribers of
//! each topic; `range` gives each subscriber a contiguous range of every topic it subscribes to,
//! members ordered by instance id then member id, so co-partitioned topics line up.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Topic id → partitions.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// A member as the assignor sees it.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    pub id: String,
    pub instance_id: Option<String>,
    pub topics: BTreeSet<Uuid>,
}

pub const UNIFORM: &str = "uniform";
pub const RANGE: &str = "range";
pub const ASSIGNORS: [&str; 2] = [UNIFORM, RANGE];

/// Computes a target assignment with the named assignor.
pub fn assign(
    name: &str,
    members: &[MemberSpec],
    partitions: &BTreeMap<Uuid, i32>,
    current: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    match name {
        RANGE => range(members, partitions),
        _ => uniform(members, partitions, current),
    }
}

fn load(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

fn uniform(
    members: &[MemberSpec],
    partitions: &BTreeMap<Uuid, i32>,
    current: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = BTreeMap::new();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    // 1. Keep the current target where it is still valid (topic subscribed and existing).
    for m in members {
        let mut mine = Assignment::new();
        if let Some(cur) = current.get(&m.id) {
            for (t, ps) in cur {
                let Some(&count) = partitions.get(t) else {
                    continue;
                };
                if !m.topics.contains(t) {
                    continue;
                }
                for &p in ps {
                    if p < count && taken.insert((*t, p)) {
                        mine.entry(*t).or_default().insert(p);
                    }
                }
            }
        }
        out.insert(m.id.clone(), mine);
    }
    // 2. Give each unassigned partition to the least-loaded subscriber of its topic.
    for (t, &count) in partitions {
        let subscribers: Vec<&MemberSpec> =
            members.iter().filter(|m| m.topics.contains(t)).collect();
        if subscribers.is_empty() {
            continue;
        }
        for p in 0..count {
            if taken.contains(&(*t, p)) {
                continue;
            }
            if let Some(m) = subscribers
                .iter()
                .min_by_key(|m| (out.get(&m.id).map_or(0, load), m.id.clone()))
            {
                out.entry(m.id.clone())
                    .or_default()
                    .entry(*t)
                    .or_default()
                    .insert(p);
                taken.insert((*t, p));
            }
        }
    }
    // 3. Move partitions from the most to the least loaded member that can take them, while that
    //    narrows the gap. Bounded: each move lowers the sum of squared loads.
    let total: usize = out.values().map(load).sum();
    for _ in 0..total.saturating_mul(2).max(1) {
        let Some(mv) = best_move(members, &out) else {
            break;
        };
        let (from, to, t, p) = mv;
        if let Some(a) = out.get_mut(&from)
            && let Some(set) = a.get_mut(&t)
        {
            set.remove(&p);
            if set.is_empty() {
                a.remove(&t);
            }
        }
        out.entry(to).or_default().entry(t).or_default().insert(p);
    }
    out
}

/// A partition move (from, to, topic, partition) that reduces imbalance by at least 2.
fn best_move(
    members: &[MemberSpec],
    out: &BTreeMap<String, Assignment>,
) -> Option<(String, String, Uuid, i32)> {
    let mut order: Vec<&MemberSpec> = members.iter().collect();
    order.sort_by_key(|m| std::cmp::Reverse((out.get(&m.id).map_or(0, load), m.id.clone())));
    for heavy in &order {
        let heavy_load = out.get(&heavy.id).map_or(0, load);
        let Some(a) = out.get(&heavy.id) else {
            continue;
        };
        // Candidates to receive: least loaded first.
        for light in order.iter().rev() {
            let light_load = out.get(&light.id).map_or(0, load);
            if light_load + 1 >= heavy_load {
                break;
            }
            // The highest partition of a topic both subscribe to.
            for (t, ps) in a.iter().rev() {
                if light.topics.contains(t)
                    && let Some(&p) = ps.iter().next_back()
                {
                    return Some((heavy.id.clone(), light.id.clone(), *t, p));
                }
            }
        }
    }
    None
}

fn range(members: &[MemberSpec], partitions: &BTreeMap<Uuid, i32>) -> BTreeMap<String, Assignment> {
    let mut sorted: Vec<&MemberSpec> = members.iter().collect();
    sorted.sort_by(|a, b| match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y).then(a.id.cmp(&b.id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.id.cmp(&b.id),
    });
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.id.clone(), Assignment::new()))
        .collect();
    for (t, &count) in partitions {
        let subs: Vec<&&MemberSpec> = sorted.iter().filter(|m| m.topics.contains(t)).collect();
        if subs.is_empty() || count <= 0 {
            continue;
        }
        let n = subs.len() as i32;
        let (quota, mut extra) = (count / n, count % n);
        let mut next = 0;
        for m in subs {
            let take = quota + i32::from(extra > 0);
            extra -= 1;
            if take > 0 {
                let set: BTreeSet<i32> = (next..next + take).collect();
                out.entry(m.id.clone()).or_default().insert(*t, set);
            }
            next += take;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[Uuid]) -> MemberSpec {
        MemberSpec {
            id: id.into(),
            instance_id: None,
            topics: topics.iter().copied().collect(),
        }
    }

    fn covered(out: &BTreeMap<String, Assignment>) -> BTreeSet<(Uuid, i32)> {
        out.values()
            .flat_map(|a| {
                a.iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
            })
            .collect()
    }

    #[test]
    fn uniform_balances_and_sticks() {
        let t = Uuid::new_v4();
        let parts: BTreeMap<Uuid, i32> = [(t, 6)].into();
        let ms = vec![member("a", &[t]), member("b", &[t]), member("c", &[t])];
        let first = assign(UNIFORM, &ms, &parts, &BTreeMap::new());
        assert_eq!(covered(&first).len(), 6);
        assert!(first.values().all(|a| load(a) == 2));
        // One member leaves: the others keep theirs and split the orphans.
        let ms2 = vec![member("a", &[t]), member("b", &[t])];
        let second = assign(UNIFORM, &ms2, &parts, &first);
        assert_eq!(covered(&second).len(), 6);
        for id in ["a", "b"] {
            assert!(
                first[id]
                    .get(&t)
                    .unwrap()
                    .is_subset(second[id].get(&t).unwrap()),
                "{id} kept its partitions"
            );
        }
        // A member joins: balanced again, moving as little as needed.
        let ms3 = vec![member("a", &[t]), member("b", &[t]), member("d", &[t])];
        let third = assign(UNIFORM, &ms3, &parts, &second);
        assert!(third.values().all(|a| load(a) == 2), "{third:?}");
    }

    #[test]
    fn uniform_heterogeneous_covers_everything() {
        let (t1, t2) = (Uuid::new_v4(), Uuid::new_v4());
        let parts: BTreeMap<Uuid, i32> = [(t1, 5), (t2, 3)].into();
        let ms = vec![
            member("a", &[t1]),
            member("b", &[t1, t2]),
            member("c", &[t2]),
        ];
        let out = assign(UNIFORM, &ms, &parts, &BTreeMap::new());
        assert_eq!(covered(&out).len(), 8);
        assert!(!out["a"].contains_key(&t2) && !out["c"].contains_key(&t1));
        let loads: Vec<usize> = out.values().map(load).collect();
        assert!(
            loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1,
            "{loads:?}"
        );
    }

    #[test]
    fn range_is_contiguous_and_co_partitioned() {
        let (t1, t2) = (Uuid::new_v4(), Uuid::new_v4());
        let parts: BTreeMap<Uuid, i32> = [(t1, 5), (t2, 5)].into();
        let ms = vec![member("b", &[t1, t2]), member("a", &[t1, t2])];
        let out = assign(RANGE, &ms, &parts, &BTreeMap::new());
        assert_eq!(out["a"][&t1], [0, 1, 2].into());
        assert_eq!(out["b"][&t1], [3, 4].into());
        assert_eq!(out["a"][&t2], out["a"][&t1]);
    }
}
