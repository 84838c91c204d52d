//! Records of `__transaction_state`, in Kafka's own layout (`TransactionLogKey` and
//! `TransactionLogValue` version 0), so the topic reads the same as a Kafka broker's:
//!
//! ```text
//! key   = version i16 (0) | transactional id (i16 length + UTF-8)
//! value = version i16 (0) | producer id i64 | producer epoch i16 | timeout ms i32
//!       | state i8 | partitions: i32 count (-1 = null) of { topic (i16 + UTF-8),
//!                                                        i32 count of partition i32 }
//!       | last update ms i64 | start ms i64
//! ```
//! A null value (tombstone) removes the transactional id. The topic is compacted.

use std::collections::BTreeSet;

use super::state::TxnState;

/// What the log holds for one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnValue {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub last_update_ms: i64,
    pub start_ms: i64,
}

pub fn encode_key(transactional_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + transactional_id.len());
    out.extend_from_slice(&0i16.to_be_bytes());
    put_str(&mut out, transactional_id);
    out
}

pub fn decode_key(b: &[u8]) -> Option<String> {
    let mut r = Reader(b);
    if r.i16()? != 0 {
        return None;
    }
    r.str()
}

pub fn encode_value(v: &TxnValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&v.producer_id.to_be_bytes());
    out.extend_from_slice(&v.producer_epoch.to_be_bytes());
    out.extend_from_slice(&v.timeout_ms.to_be_bytes());
    out.push(v.state.id() as u8);
    if v.state == TxnState::Empty {
        out.extend_from_slice(&(-1i32).to_be_bytes());
    } else {
        let mut by_topic: Vec<(&str, Vec<i32>)> = Vec::new();
        for (t, p) in &v.partitions {
            match by_topic.last_mut() {
                Some((last, ps)) if *last == t.as_str() => ps.push(*p),
                _ => by_topic.push((t.as_str(), vec![*p])),
            }
        }
        out.extend_from_slice(&(by_topic.len() as i32).to_be_bytes());
        for (t, ps) in by_topic {
            put_str(&mut out, t);
            out.extend_from_slice(&(ps.len() as i32).to_be_bytes());
            for p in ps {
                out.extend_from_slice(&p.to_be_bytes());
            }
        }
    }
    out.extend_from_slice(&v.last_update_ms.to_be_bytes());
    out.extend_from_slice(&v.start_ms.to_be_bytes());
    out
}

/// Decodes a value; every count is checked against the bytes left.
pub fn decode_value(b: &[u8]) -> Option<TxnValue> {
    let mut r = Reader(b);
    if r.i16()? != 0 {
        return None;
    }
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let state = TxnState::from_id(r.i8()?)?;
    let topics = r.i32()?;
    let mut partitions = BTreeSet::new();
    if topics > 0 {
        if topics as usize > r.0.len() / 6 {
            return None;
        }
        for _ in 0..topics {
            let t = r.str()?;
            let n = r.i32()?;
            if n < 0 || n as usize > r.0.len() / 4 {
                return None;
            }
            for _ in 0..n {
                partitions.insert((t.clone(), r.i32()?));
            }
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    Some(TxnValue {
        producer_id,
        producer_epoch,
        timeout_ms,
        state,
        partitions,
        last_update_ms,
        start_ms,
    })
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    out.extend_from_slice(&(bytes.len() as i16).to_be_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (h, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*h)
    }
    fn i8(&mut self) -> Option<i8> {
        Some(self.take::<1>()?[0] as i8)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = self.i16()?;
        if n < 0 || n as usize > self.0.len() {
            return None;
        }
        let (s, rest) = self.0.split_at(n as usize);
        self.0 = rest;
        String::from_utf8(s.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(decode_key(&encode_key("tx-1")).as_deref(), Some("tx-1"));
        let v = TxnValue {
            producer_id: 4000,
            producer_epoch: 3,
            timeout_ms: 60000,
            state: TxnState::Ongoing,
            partitions: [
                ("a".to_string(), 0),
                ("a".to_string(), 2),
                ("b".to_string(), 1),
            ]
            .into_iter()
            .collect(),
            last_update_ms: 10,
            start_ms: 5,
        };
        let bytes = encode_value(&v);
        assert_eq!(decode_value(&bytes), Some(v.clone()));
        for n in 0..bytes.len() {
            assert!(decode_value(&bytes[..n]).is_none());
        }
        let empty = TxnValue {
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            ..v
        };
        assert_eq!(decode_value(&encode_value(&empty)), Some(empty));
    }
}
