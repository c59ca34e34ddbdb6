//! Dispatches each HTTP/2 request of an Auth connection to the generated gRPC services, with
//! the connection's caller attached, after Teleport's client version check.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hyper::body::Incoming;
use teleport_audit_proto::auditlog::v1::audit_log_service_server::AuditLogServiceServer;
use teleport_audit_proto::authservice::auth_service_server::AuthServiceServer;
use tonic::codegen::Service as _;

use super::client_version;
use super::conn_info::ConnInfo;
use super::service::{AuditService, PingService};
use crate::shared::Shared;

#[derive(Clone)]
pub(crate) struct AuthRouter {
    audit: AuditLogServiceServer<AuditService>,
    auth: AuthServiceServer<PingService>,
    shared: Arc<Shared>,
    info: ConnInfo,
}

impl AuthRouter {
    pub(crate) fn new(shared: Arc<Shared>, info: ConnInfo) -> AuthRouter {
        AuthRouter {
            audit: AuditLogServiceServer::new(AuditService::new(shared.clone())),
            auth: AuthServiceServer::new(PingService::new(shared.clone())),
            shared,
            info,
        }
    }
}

type BoxFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<tonic::body::Body>, Infallible>> + Send>>;

impl hyper::service::Service<http::Request<Incoming>> for AuthRouter {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn call(&self, mut req: http::Request<Incoming>) -> BoxFuture {
        // Teleport closes the connection of a client announcing an unsupported version
        // (`Middleware.ValidateClientVersion`) before its AccessDenied can be sent.
        let oldest = self
            .shared
            .reject_old_clients
            .then_some(&self.shared.min_client_version);
        let values: Vec<&[u8]> = req
            .headers()
            .get_all(client_version::VERSION_KEY)
            .iter()
            .map(http::HeaderValue::as_bytes)
            .collect();
        if !client_version::accepted(oldest, &values) {
            self.info.control.cut();
            let status = tonic::Status::permission_denied("client version is unsupported");
            return Box::pin(async move { Ok(status.into_http()) });
        }
        req.extensions_mut().insert(self.info.clone());
        if req.uri().path().starts_with("/proto.AuthService/") {
            let mut svc = self.auth.clone();
            Box::pin(async move { svc.call(req).await })
        } else {
            let mut svc = self.audit.clone();
            Box::pin(async move { svc.call(req).await })
        }
    }
}
