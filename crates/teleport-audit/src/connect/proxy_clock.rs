//! The proxy's clock, read from the HTTP `Date` header of its public web API (not a hop of the
//! dial: one reading per client, after it connected).
//!
//! Teleport tells a client nothing of its time over gRPC (the Auth Service runs grpc-go's own
//! transport, which sends no `Date`; `Ping` carries no time). The proxy's web API is Go's
//! `net/http`, which stamps every answer with `Date`, and `/webapi/find` needs no login. One
//! `GET /webapi/find` over the proxy's public TLS (the same trust as the connection upgrade:
//! system roots plus the extra CA) gives the proxy's time to the second; the client keeps the
//! offset from its own clock. Best effort: a proxy that cannot be reached this way (a direct
//! Auth address, an untrusted web certificate, no `Date`) leaves the offset unknown.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONNECTION, DATE, HOST, USER_AGENT};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Empty;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};

use super::address::HostPort;
use super::http1::{self, Answer};
use super::proxy_tls::ProxyTls;

/// The longest the client waits for the proxy's time at connect.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(5);

/// The proxy's clock minus this machine's, measured over `io` (a fresh connection to the
/// proxy), or `None` if it cannot be learned.
pub(crate) async fn offset<IO>(
    io: IO,
    proxy: &HostPort,
    tls: &ProxyTls,
    timeout: Duration,
) -> Option<time::Duration>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let exchange = async {
        let sent = OffsetDateTime::now_utc();
        let stream = tls.connect_http1(io, proxy).await.ok()?;
        let request = Request::get("/webapi/find")
            .header(HOST, proxy.to_string())
            .header(USER_AGENT, "teleport-audit")
            .header(ACCEPT, "application/json")
            .header(CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .ok()?;
        let Answer::Other(head) = http1::exchange(stream, request).await.ok()? else {
            return None;
        };
        let received = OffsetDateTime::now_utc();
        let date = date_header(head.status, &head.headers)?;
        // The server stamped the answer somewhere between sending and receiving.
        let midpoint = sent + (received - sent) / 2;
        Some(date - midpoint)
    };
    let offset = tokio::time::timeout(timeout, exchange).await.ok().flatten();
    tracing::debug!(proxy = %proxy, ?offset, "the proxy's clock against this machine's");
    offset
}

/// The `Date` header of a successful (2xx) answer, as a time.
pub(crate) fn date_header(status: StatusCode, headers: &HeaderMap) -> Option<OffsetDateTime> {
    if !status.is_success() {
        return None;
    }
    parse_http_date(headers.get(DATE)?.to_str().ok()?.trim())
}

/// An RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), what Go's `net/http` writes.
pub(crate) fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(text, format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    http::HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn the_date_of_a_successful_answer_is_read() {
        let ok = headers(&[
            ("content-type", "application/json"),
            ("date", "Fri, 04 Dec 2026 14:30:07 GMT"),
        ]);
        assert_eq!(
            date_header(StatusCode::OK, &ok),
            Some(datetime!(2026-12-04 14:30:07 UTC))
        );
        let ok = headers(&[("date", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert_eq!(
            date_header(StatusCode::NO_CONTENT, &ok),
            Some(datetime!(1994-11-06 08:49:37 UTC))
        );
    }

    #[test]
    fn no_date_a_bad_date_or_a_failure_is_nothing() {
        assert_eq!(
            date_header(StatusCode::OK, &headers(&[("server", "x")])),
            None
        );
        assert_eq!(
            date_header(StatusCode::OK, &headers(&[("date", "yesterday")])),
            None
        );
        let dated = headers(&[("date", "Fri, 04 Dec 2026 14:30:07 GMT")]);
        assert_eq!(date_header(StatusCode::BAD_GATEWAY, &dated), None);
        assert_eq!(parse_http_date("Fri, 32 Dec 2026 14:30:07 GMT"), None);
        assert_eq!(date_header(StatusCode::OK, &HeaderMap::new()), None);
    }
}
