//! Fetch responses encoded without copying record bytes.
//!
//! A Fetch response is mostly record batches read from segment files. [`crate::response::encode`]
//! would copy each of them into one response buffer; here the response becomes a list of parts
//! (framing and partition fields in small buffers, each partition's records as the `Bytes` the
//! read returned) that the connection writes with one vectored write. The bytes on the wire are
//! exactly those of the generic encoder (a property test compares them for every version).
//!
//! Fields are written in the order and with the types of `kafka-protocol`'s generated
//! `FetchResponse` code; structures without records (aborted transactions, epochs, leaders, node
//! endpoints) go through their generated encoders. A response carrying unknown tagged fields
//! (the node never sets any) falls back to the generic encoder.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchResponse};
use kafka_protocol::protocol::Encodable;

use crate::response::EncodeError;

/// Records smaller than this are copied into the surrounding part: a separate part costs an
/// `iovec` and a reference count, more than copying a few hundred bytes.
pub const ZERO_COPY_BYTES_MIN: usize = 1024;

/// One part of a response: bytes, or records the caller supplies itself (`T`, e.g. a file range
/// it sends with `sendfile`), of a length given when encoding.
#[derive(Debug)]
pub enum Part<T> {
    Bytes(Bytes),
    External(T),
}

/// A response as parts to write in order, and its total size (frame prefix included).
#[derive(Debug)]
pub struct Parts<T> {
    pub parts: Vec<Part<T>>,
    pub len: usize,
}

/// The records of the partition at (topic index, partition index) of the response, when they
/// are not in its `records` field (which is then empty): their length and what stands for them.
pub type ExternalRecords<'a, T> = &'a mut dyn FnMut(usize, usize) -> Option<(usize, T)>;

struct Writer<'a, T> {
    parts: Vec<Part<T>>,
    cur: BytesMut,
    len: usize,
    external: ExternalRecords<'a, T>,
    /// Bytes the external records add to what `compute_size` counted for empty ones.
    extra: usize,
}

impl<T> Writer<'_, T> {
    fn flush_cur(&mut self) {
        if !self.cur.is_empty() {
            self.len += self.cur.len();
            self.parts.push(Part::Bytes(self.cur.split().freeze()));
        }
    }

    fn records(&mut self, records: &Bytes) {
        if records.len() < ZERO_COPY_BYTES_MIN {
            self.cur.put_slice(records);
            return;
        }
        self.flush_cur();
        self.len += records.len();
        self.parts.push(Part::Bytes(records.clone()));
    }

    fn external(&mut self, len: usize, part: T) {
        self.flush_cur();
        self.len += len;
        self.parts.push(Part::External(part));
    }

    fn finish(mut self) -> Parts<T> {
        self.flush_cur();
        Parts {
            parts: self.parts,
            len: self.len,
        }
    }
}

fn has_unknown_tags(r: &FetchResponse) -> bool {
    !r.unknown_tagged_fields.is_empty()
        || r.responses.iter().any(|t| {
            !t.unknown_tagged_fields.is_empty()
                || t.partitions
                    .iter()
                    .any(|p| !p.unknown_tagged_fields.is_empty())
        })
}

/// Encodes a framed Fetch response (size prefix, header, body) as parts; `external` may supply a
/// partition's records instead of its `records` field (left empty by the caller).
pub fn encode_fetch_with<T>(
    version: i16,
    correlation_id: i32,
    body: &FetchResponse,
    external: ExternalRecords<'_, T>,
) -> Result<Parts<T>, EncodeError> {
    let api = ApiKey::Fetch;
    let err = |detail: String| EncodeError {
        api,
        version,
        detail,
    };
    if !(4..=18).contains(&version) || has_unknown_tags(body) {
        let mut out = BytesMut::new();
        crate::response::encode(&mut out, api, version, correlation_id, body)?;
        let len = out.len();
        return Ok(Parts {
            parts: vec![Part::Bytes(out.freeze())],
            len,
        });
    }
    let size = body.compute_size(version).map_err(|e| err(wrap(e)))?;
    let flexible = version >= 12;
    let header_len = if api.response_header_version(version) >= 1 {
        5
    } else {
        4
    };
    let mut w = Writer {
        parts: Vec::new(),
        cur: BytesMut::with_capacity(256),
        len: 0,
        external,
        extra: 0,
    };
    w.cur.put_i32(correlation_id);
    if header_len == 5 {
        w.cur.put_u8(0);
    }
    body_parts(&mut w, body, version, flexible).map_err(err)?;
    let extra = w.extra;
    let mut parts = w.finish();
    let body_len = header_len + size + extra;
    if parts.len != body_len {
        return Err(err(format!(
            "encoded {} bytes where {body_len} were computed",
            parts.len
        )));
    }
    let total = i32::try_from(body_len).map_err(|_| err("response too large".into()))?;
    parts
        .parts
        .insert(0, Part::Bytes(Bytes::copy_from_slice(&total.to_be_bytes())));
    parts.len += 4;
    Ok(parts)
}

/// Errors of `kafka-protocol`'s encoders and of length conversions, as text.
type Fallible = Result<(), String>;

fn wrap<E: std::fmt::Display>(e: E) -> String {
    format!("{e:#}")
}

fn put_uvarint(out: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

fn uvarint_len(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// An array's length: INT32 (-1 for null), or for flexible versions UNSIGNED_VARINT of
/// length + 1 (0 for null).
fn array_len(out: &mut BytesMut, n: Option<usize>, flexible: bool) -> Fallible {
    match (n, flexible) {
        (None, true) => out.put_u8(0),
        (None, false) => out.put_i32(-1),
        (Some(n), true) => put_uvarint(out, u32::try_from(n + 1).map_err(wrap)?),
        (Some(n), false) => out.put_i32(i32::try_from(n).map_err(wrap)?),
    }
    Ok(())
}

fn body_parts<T>(
    w: &mut Writer<'_, T>,
    r: &FetchResponse,
    version: i16,
    flexible: bool,
) -> Fallible {
    w.cur.put_i32(r.throttle_time_ms);
    if version >= 7 {
        w.cur.put_i16(r.error_code);
        w.cur.put_i32(r.session_id);
    } else if r.session_id != 0 {
        return Err("session_id is not available before v7".into());
    }
    array_len(&mut w.cur, Some(r.responses.len()), flexible)?;
    for (i, t) in r.responses.iter().enumerate() {
        topic_parts(w, i, t, version, flexible)?;
    }
    if flexible {
        let endpoints = version >= 16 && !r.node_endpoints.is_empty();
        put_uvarint(&mut w.cur, u32::from(endpoints));
        if endpoints {
            let n = r.node_endpoints.len();
            let mut size = uvarint_len(u32::try_from(n + 1).map_err(wrap)?);
            for e in &r.node_endpoints {
                size += e.compute_size(version).map_err(wrap)?;
            }
            put_uvarint(&mut w.cur, 0);
            put_uvarint(&mut w.cur, u32::try_from(size).map_err(wrap)?);
            array_len(&mut w.cur, Some(n), true)?;
            for e in &r.node_endpoints {
                e.encode(&mut w.cur, version).map_err(wrap)?;
            }
        }
    }
    Ok(())
}

fn topic_parts<T>(
    w: &mut Writer<'_, T>,
    topic: usize,
    t: &FetchableTopicResponse,
    version: i16,
    flexible: bool,
) -> Fallible {
    if version <= 12 {
        let name = t.topic.as_bytes();
        if flexible {
            put_uvarint(&mut w.cur, u32::try_from(name.len() + 1).map_err(wrap)?);
        } else {
            w.cur.put_i16(i16::try_from(name.len()).map_err(wrap)?);
        }
        w.cur.put_slice(name);
    }
    if version >= 13 {
        w.cur.put_slice(t.topic_id.as_bytes());
    }
    array_len(&mut w.cur, Some(t.partitions.len()), flexible)?;
    for (i, p) in t.partitions.iter().enumerate() {
        partition_parts(w, (topic, i), p, version, flexible)?;
    }
    if flexible {
        w.cur.put_u8(0); // no tagged fields
    }
    Ok(())
}

/// One tagged field holding a structure: tag, size, structure.
fn tagged<T, S: Encodable>(w: &mut Writer<'_, T>, tag: u32, value: &S, version: i16) -> Fallible {
    let size = value.compute_size(version).map_err(wrap)?;
    put_uvarint(&mut w.cur, tag);
    put_uvarint(&mut w.cur, u32::try_from(size).map_err(wrap)?);
    value.encode(&mut w.cur, version).map_err(wrap)
}

fn partition_parts<T>(
    w: &mut Writer<'_, T>,
    (topic, index): (usize, usize),
    p: &PartitionData,
    version: i16,
    flexible: bool,
) -> Fallible {
    w.cur.put_i32(p.partition_index);
    w.cur.put_i16(p.error_code);
    w.cur.put_i64(p.high_watermark);
    w.cur.put_i64(p.last_stable_offset);
    if version >= 5 {
        w.cur.put_i64(p.log_start_offset);
    }
    let aborted = p.aborted_transactions.as_ref();
    array_len(&mut w.cur, aborted.map(Vec::len), flexible)?;
    for a in aborted.into_iter().flatten() {
        a.encode(&mut w.cur, version).map_err(wrap)?;
    }
    if version >= 11 {
        w.cur.put_i32(p.preferred_read_replica.0);
    } else if p.preferred_read_replica.0 != -1 {
        return Err("preferred_read_replica is not available before v11".into());
    }
    let outside = match &p.records {
        Some(r) if r.is_empty() => (w.external)(topic, index),
        _ => None,
    };
    match (&p.records, outside) {
        (_, Some((len, part))) => {
            array_len(&mut w.cur, Some(len), flexible)?;
            // `compute_size` counted an empty records field.
            let counted = if flexible { 1 } else { 4 };
            let prefix = if flexible {
                uvarint_len(u32::try_from(len + 1).map_err(wrap)?)
            } else {
                4
            };
            w.extra += len + prefix - counted;
            w.external(len, part);
        }
        (None, None) => array_len(&mut w.cur, None, flexible)?,
        (Some(r), None) => {
            array_len(&mut w.cur, Some(r.len()), flexible)?;
            w.records(r);
        }
    }
    if flexible {
        let diverging = p.diverging_epoch != Default::default();
        let leader = p.current_leader != Default::default();
        let snapshot = p.snapshot_id != Default::default();
        put_uvarint(
            &mut w.cur,
            u32::from(diverging) + u32::from(leader) + u32::from(snapshot),
        );
        if diverging {
            tagged(w, 0, &p.diverging_epoch, version)?;
        }
        if leader {
            tagged(w, 1, &p.current_leader, version)?;
        }
        if snapshot {
            tagged(w, 2, &p.snapshot_id, version)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, LeaderIdAndEpoch, NodeEndpoint, SnapshotId,
    };
    use kafka_protocol::messages::{BrokerId, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    fn partition() -> impl Strategy<Value = PartitionData> {
        (
            any::<i32>(),
            any::<i16>(),
            any::<i64>(),
            proptest::option::of(prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                proptest::collection::vec(any::<u8>(), 1000..5000),
            ]),
            proptest::collection::vec((any::<i64>(), any::<i64>()), 0..3),
            any::<[bool; 3]>(),
        )
            .prop_map(|(index, code, hw, records, aborted, tags)| {
                let mut p = PartitionData::default()
                    .with_partition_index(index)
                    .with_error_code(code)
                    .with_high_watermark(hw)
                    .with_last_stable_offset(hw / 2)
                    .with_log_start_offset(hw / 3)
                    .with_aborted_transactions(Some(
                        aborted
                            .into_iter()
                            .map(|(pid, first)| {
                                AbortedTransaction::default()
                                    .with_producer_id(pid.into())
                                    .with_first_offset(first)
                            })
                            .collect(),
                    ))
                    .with_records(records.map(Bytes::from));
                if tags[0] {
                    p.diverging_epoch = EpochEndOffset::default().with_epoch(3).with_end_offset(hw);
                }
                if tags[1] {
                    p.current_leader = LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(2))
                        .with_leader_epoch(7);
                }
                if tags[2] {
                    p.snapshot_id = SnapshotId::default().with_end_offset(hw).with_epoch(1);
                }
                p
            })
    }

    fn response() -> impl Strategy<Value = FetchResponse> {
        (
            proptest::collection::vec(
                ("[a-z]{1,12}", proptest::collection::vec(partition(), 0..4)),
                0..4,
            ),
            any::<i32>(),
            any::<bool>(),
        )
            .prop_map(|(topics, session, endpoints)| {
                let mut r = FetchResponse::default()
                    .with_throttle_time_ms(5)
                    .with_session_id(session)
                    .with_responses(
                        topics
                            .into_iter()
                            .map(|(name, parts)| {
                                FetchableTopicResponse::default()
                                    .with_topic(TopicName(StrBytes::from_string(name)))
                                    .with_partitions(parts)
                            })
                            .collect(),
                    );
                if endpoints {
                    r.node_endpoints = vec![
                        NodeEndpoint::default()
                            .with_node_id(BrokerId(1))
                            .with_host(StrBytes::from_static_str("127.0.0.1"))
                            .with_port(9092),
                    ];
                }
                r
            })
    }

    /// What the version can carry, as the node fills it in.
    fn for_version(mut r: FetchResponse, version: i16) -> FetchResponse {
        if version < 7 {
            r.session_id = 0;
        }
        if version < 16 {
            r.node_endpoints.clear();
        }
        for t in &mut r.responses {
            for p in &mut t.partitions {
                if version < 11 {
                    p.preferred_read_replica = BrokerId(-1);
                }
            }
        }
        r
    }

    /// The parts of a response with every record in its field.
    fn encode_fetch(version: i16, corr: i32, r: &FetchResponse) -> Parts<Bytes> {
        encode_fetch_with(version, corr, r, &mut |_, _| None).unwrap()
    }

    fn joined(parts: &Parts<Bytes>) -> Vec<u8> {
        parts
            .parts
            .iter()
            .flat_map(|p| match p {
                Part::Bytes(b) | Part::External(b) => b.to_vec(),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn parts_are_the_generic_encoding(r in response(), version in 4i16..=18, corr in any::<i32>()) {
            let r = for_version(r, version);
            let mut generic = BytesMut::new();
            crate::response::encode(&mut generic, ApiKey::Fetch, version, corr, &r).unwrap();
            let parts = encode_fetch(version, corr, &r);
            let joined = joined(&parts);
            prop_assert_eq!(parts.len, joined.len());
            prop_assert_eq!(&joined[..], &generic[..]);
        }
    }

    proptest! {
        #[test]
        fn external_records_take_the_place_of_the_field(r in response(), version in 4i16..=18, corr in any::<i32>()) {
            let r = for_version(r, version);
            let mut generic = BytesMut::new();
            crate::response::encode(&mut generic, ApiKey::Fetch, version, corr, &r).unwrap();
            // Every non-empty records field supplied from outside instead.
            let mut stripped = r.clone();
            let mut outside = std::collections::HashMap::new();
            for (ti, t) in stripped.responses.iter_mut().enumerate() {
                for (pi, p) in t.partitions.iter_mut().enumerate() {
                    if let Some(b) = p.records.as_ref().filter(|b| !b.is_empty()) {
                        outside.insert((ti, pi), b.clone());
                        p.records = Some(Bytes::new());
                    }
                }
            }
            let parts = encode_fetch_with(version, corr, &stripped, &mut |t, p| {
                outside.get(&(t, p)).map(|b| (b.len(), b.clone()))
            })
            .unwrap();
            let joined = joined(&parts);
            prop_assert_eq!(parts.len, joined.len());
            prop_assert_eq!(&joined[..], &generic[..]);
        }
    }

    #[test]
    fn large_records_are_referenced_not_copied() {
        let records = Bytes::from(vec![7u8; 4096]);
        let r = FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![
                    PartitionData::default()
                        .with_preferred_read_replica(BrokerId(-1))
                        .with_records(Some(records.clone())),
                ]),
        ]);
        for version in [4, 11, 12, 17] {
            let parts = encode_fetch(version, 1, &r);
            // Size, framing and fields, the records themselves, then (flexible versions) tags.
            assert_eq!(parts.parts.len(), if version >= 12 { 4 } else { 3 });
            let Part::Bytes(r) = &parts.parts[2] else {
                panic!("records part")
            };
            assert_eq!(r.as_ptr(), records.as_ptr());
        }
    }
}
