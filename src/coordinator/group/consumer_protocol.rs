//! The embedded consumer protocol (`protocol_type = "consumer"`): subscriptions inside JoinGroup
//! metadata. The coordinator reads only the subscribed topics, to learn which topics a classic
//! group consumes (offset expiry, OffsetDelete).
//!
//! ```text
//! ConsumerProtocolSubscription, every version (0-3):
//!   version i16 | topics: count i32, then each name as i16 length + UTF-8 | ...rest unused here
//! ```
//! Parsed by hand, with every length checked against the bytes left: the bytes come from a
//! client and kafka-protocol's decoder would size vectors from their counts.

/// Topics of a serialized subscription, or `None` if it does not parse.
pub fn subscription_topics(bytes: &[u8]) -> Option<Vec<String>> {
    let mut buf = bytes.get(2..)?;
    let (count, rest) = buf.split_first_chunk::<4>()?;
    let count = i32::from_be_bytes(*count);
    buf = rest;
    if count < 0 || count as usize > buf.len() / 2 {
        return None;
    }
    let mut topics = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (len, rest) = buf.split_first_chunk::<2>()?;
        let len = usize::try_from(i16::from_be_bytes(*len)).ok()?;
        let name = rest.get(..len)?;
        topics.push(String::from_utf8(name.to_vec()).ok()?);
        buf = &rest[len..];
    }
    Some(topics)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn reads_topics_of_every_version() {
        for version in 0..=3i16 {
            let sub = ConsumerProtocolSubscription::default().with_topics(vec![
                StrBytes::from_static_str("a"),
                StrBytes::from_static_str("orders"),
            ]);
            let mut buf = BytesMut::new();
            buf.extend_from_slice(&version.to_be_bytes());
            sub.encode(&mut buf, version).unwrap();
            assert_eq!(
                super::subscription_topics(&buf),
                Some(vec!["a".to_string(), "orders".to_string()])
            );
        }
        assert_eq!(
            super::subscription_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(super::subscription_topics(&[0]), None);
    }
}
