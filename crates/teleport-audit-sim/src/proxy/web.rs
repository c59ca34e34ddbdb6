//! The proxy's HTTP side: `/webapi/find`, `/webapi/ping`, `/webapi/connectionupgrade`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};

use super::reply::{Body, error, json};
use super::{ProxyContext, upgrade};

pub(crate) async fn serve_http1<S>(io: S, peer: SocketAddr, ctx: Arc<ProxyContext>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stopped = ctx.shared.stopped();
    let svc = service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(req, peer, ctx)) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .auto_date_header(false)
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    tokio::select! {
        _ = conn => {}
        () = stopped => {}
    }
}

pub(crate) async fn serve_http2<S>(io: S, peer: SocketAddr, ctx: Arc<ProxyContext>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stopped = ctx.shared.stopped();
    let svc = service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(req, peer, ctx)) }
    });
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .auto_date_header(false)
        .serve_connection(TokioIo::new(io), svc);
    tokio::select! {
        _ = conn => {}
        () = stopped => {}
    }
}

fn handle(req: Request<Incoming>, peer: SocketAddr, ctx: Arc<ProxyContext>) -> Response<Body> {
    // Go's net/http stamps every response with the server's time (hyper's own header would
    // carry the real time, not the sim's clock).
    let date = http_date(ctx.shared.store.clock().now());
    let mut response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/webapi/find") => json(StatusCode::OK, &ping_json(&ctx, false)),
        (&Method::GET, "/webapi/ping") => json(StatusCode::OK, &ping_json(&ctx, true)),
        (_, "/webapi/connectionupgrade") => upgrade::handle(req, peer, ctx),
        _ => error(StatusCode::NOT_FOUND, "not found"),
    };
    if let Some(date) = date.and_then(|d| http::HeaderValue::from_str(&d).ok()) {
        response.headers_mut().insert(header::DATE, date);
    }
    response
}

/// An HTTP `Date` value (RFC 9110 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`); `None` for a
/// year outside 0..=9999 (impossible for the sim's clock, which stays in 1677..2262).
fn http_date(t: time::OffsetDateTime) -> Option<String> {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let t = t.to_offset(time::UtcOffset::UTC);
    (0..=9999)
        .contains(&t.year())
        .then(|| t.format(FORMAT).ok())
        .flatten()
}

/// What Teleport's `/webapi/ping` (with `auth`) and `/webapi/find` (without) answer.
fn ping_json(ctx: &ProxyContext, with_auth: bool) -> serde_json::Value {
    let shared = &ctx.shared;
    let public = &shared.proxy_public_addr;
    let auth = if with_auth {
        serde_json::json!({
            "type": "local",
            "second_factor": "on",
            "preferred_local_mfa": "webauthn",
            "allow_passwordless": true,
            "local": { "name": "" },
            "webauthn": { "rp_id": "localhost" },
            "private_key_policy": "none",
            "device_trust": {},
            "has_motd": false,
            "default_session_ttl": "12h0m0s",
        })
    } else {
        serde_json::json!({
            "type": "",
            "private_key_policy": "",
            "device_trust": {},
            "has_motd": false,
            "default_session_ttl": "0s",
        })
    };
    serde_json::json!({
        "auth": auth,
        "proxy": {
            "kube": { "enabled": true, "listen_addr": public },
            "ssh": {
                "listen_addr": public,
                "tunnel_listen_addr": public,
                "web_listen_addr": public,
                "public_addr": public,
                "ssh_public_addr": public,
                "ssh_tunnel_public_addr": public,
            },
            "db": {
                "postgres_listen_addr": public,
                "postgres_public_addr": public,
                "mysql_listen_addr": public,
            },
            "tls_routing_enabled": true,
            "assist_enabled": false,
        },
        "server_version": shared.server_version,
        "min_client_version": shared.min_client_version.to_string(),
        "cluster_name": shared.cluster_name,
        "automatic_upgrades": false,
        "edition": "community",
        "fips": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn http_dates_are_imf_fixdate_in_utc() {
        assert_eq!(
            http_date(datetime!(1994-11-06 08:49:37.9 UTC)).as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        assert_eq!(
            http_date(datetime!(2024-01-01 01:00 +02:00)).as_deref(),
            Some("Sun, 31 Dec 2023 23:00:00 GMT")
        );
    }
}
