//! DescribeCluster (key 60): the cluster id, the controller and the brokers.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::handlers::{Ctx, Handled, ops};

/// Endpoint type 1 asks for brokers (2 would be controllers, KIP-919).
const ENDPOINT_BROKERS: i8 = 1;

pub(crate) async fn handle(
    ctx: &Ctx,
    req: DescribeClusterRequest,
) -> Handled<DescribeClusterResponse> {
    let broker = &ctx.broker;
    let mut resp = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.node_id))
        .with_cluster_authorized_operations(ops::cluster(
            req.include_cluster_authorized_operations,
        ));
    if ctx.version >= 1 {
        resp = resp.with_endpoint_type(req.endpoint_type);
        if req.endpoint_type != ENDPOINT_BROKERS {
            return Handled::Now(
                resp.with_error_code(ResponseError::UnsupportedEndpointType.code())
                    .with_error_message(Some(StrBytes::from_static_str("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"))),
            );
        }
    }
    let (host, port) = &broker.advertised;
    Handled::Now(resp.with_brokers(vec![DescribeClusterBroker::default()
        .with_broker_id(BrokerId(broker.node_id))
        .with_host(StrBytes::from_string(host.clone()))
        .with_port(i32::from(*port))]))
}
