//! ApiVersions (key 18): the versions this node serves, from the dispatch table itself.

use bytes::BytesMut;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;
use pilgrimage_protocol::response;

use super::{Ctx, Handled, Reply, ReplyFuture, SUPPORTED};

/// metadata.version levels: 7 is 3.3-IV3, the oldest Kafka 4 accepts; 27 is 4.1-IV1.
const METADATA_VERSION_MIN: i16 = 7;
const METADATA_VERSION: i16 = 27;

pub(crate) async fn handle(ctx: &Ctx, req: ApiVersionsRequest) -> Handled<ApiVersionsResponse> {
    let mut resp = ApiVersionsResponse::default();
    if ctx.version >= 3
        && !(valid_software_field(&req.client_software_name)
            && valid_software_field(&req.client_software_version))
    {
        resp.error_code = ResponseError::InvalidRequest.code();
        return Handled::Now(resp);
    }
    resp.api_keys = SUPPORTED
        .iter()
        .map(|a| {
            ApiVersion::default()
                .with_api_key(a.key as i16)
                .with_min_version(a.advertised.0)
                .with_max_version(a.advertised.1)
        })
        .collect();
    if ctx.version >= 3 {
        // group.version 1 turns on the consumer protocol (KIP-848) for clients that check it.
        // A v3 request sees only features whose minimum is above 0 (KAFKA-17492).
        let mut supported = vec![("metadata.version", METADATA_VERSION_MIN, METADATA_VERSION)];
        if ctx.version >= 4 {
            supported.push(("group.version", 0, 1));
        }
        resp.supported_features = supported
            .into_iter()
            .map(|(n, lo, hi)| {
                SupportedFeatureKey::default()
                    .with_name(StrBytes::from_static_str(n))
                    .with_min_version(lo)
                    .with_max_version(hi)
            })
            .collect();
        resp.finalized_features = [("metadata.version", METADATA_VERSION), ("group.version", 1)]
            .into_iter()
            .map(|(n, level)| {
                FinalizedFeatureKey::default()
                    .with_name(StrBytes::from_static_str(n))
                    .with_max_version_level(level)
                    .with_min_version_level(level)
            })
            .collect();
        resp.finalized_features_epoch = ctx.broker.controller.image().offset.max(0);
    }
    Handled::Now(resp)
}

/// Kafka's check of client_software_name / _version: `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            edge(f)
                && edge(l)
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
        }
        _ => false,
    }
}

/// The answer to an ApiVersions request newer than ours (KIP-511): header v0, body v0,
/// UNSUPPORTED_VERSION, and our ApiVersions range so the client retries with a version we know.
pub(crate) fn unsupported(correlation_id: i32) -> ReplyFuture {
    let (min, max) = SUPPORTED
        .iter()
        .find(|a| a.key == ApiKey::ApiVersions)
        .map_or((0, 4), |a| a.advertised);
    let body = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(ApiKey::ApiVersions as i16)
                .with_min_version(min)
                .with_max_version(max),
        ]);
    let mut buf = BytesMut::new();
    let reply = match response::encode(&mut buf, ApiKey::ApiVersions, 0, correlation_id, &body) {
        Ok(()) => Reply::Bytes(buf),
        Err(e) => Reply::Close(e.to_string()),
    };
    Box::pin(std::future::ready(reply))
}

#[cfg(test)]
mod tests {
    use super::valid_software_field;

    #[test]
    fn software_fields() {
        assert!(valid_software_field("librdkafka"));
        assert!(valid_software_field("2.3.0-RC1"));
        assert!(!valid_software_field(""));
        assert!(!valid_software_field("-x"));
        assert!(!valid_software_field("a b"));
    }
}
