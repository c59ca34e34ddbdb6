//! The proxy's clock, read from the HTTP `Date` header of its public web API.
//!
//! Teleport tells a client nothing of its time over gRPC (the Auth Service runs grpc-go's own
//! transport, which sends no `Date`; `Ping` carries no time). The proxy's web API is Go's
//! `net/http`, which stamps every answer with `Date`, and `/webapi/find` needs no login. One
//! `GET /webapi/find` over the proxy's public TLS (the same trust as the connection upgrade:
//! system roots plus the extra CA) gives the proxy's time to the second; the client keeps the
//! offset from its own clock. Best effort: a proxy that cannot be reached this way (a direct
//! Auth address, an untrusted web certificate, no `Date`) leaves the offset unknown.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::address::HostPort;
use super::upgrade::ProxyTls;

/// The longest the client waits for the proxy's time at connect.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(5);

/// The largest answer head read (the headers of `/webapi/find` are a few hundred bytes).
const MAX_HEAD: usize = 16 * 1024;

/// The proxy's clock minus this machine's, measured over `io` (a fresh connection to the
/// proxy), or `None` if it cannot be learned.
pub(crate) async fn offset<IO>(
    io: IO,
    proxy: &HostPort,
    tls: &ProxyTls,
    timeout: Duration,
) -> Option<time::Duration>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let exchange = async {
        let sent = OffsetDateTime::now_utc();
        let mut stream = tls.connect_http1(io, proxy).await.ok()?;
        let request = format!(
            "GET /webapi/find HTTP/1.1\r\nHost: {proxy}\r\nUser-Agent: teleport-audit\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let head = read_head(&mut stream).await?;
        let received = OffsetDateTime::now_utc();
        let date = date_header(&head)?;
        // The server stamped the answer somewhere between sending and receiving.
        let midpoint = sent + (received - sent) / 2;
        Some(date - midpoint)
    };
    let offset = tokio::time::timeout(timeout, exchange).await.ok().flatten();
    tracing::debug!(proxy = %proxy, ?offset, "the proxy's clock against this machine's");
    offset
}

/// Reads up to the end of the answer's head (`\r\n\r\n`), at most [`MAX_HEAD`] bytes.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(head).ok()
}

/// The `Date` header of an HTTP/1.1 answer head with a 2xx status, as a time.
pub(crate) fn date_header(head: &str) -> Option<OffsetDateTime> {
    let mut lines = head.split("\r\n");
    let status = lines.next()?;
    if !status.starts_with("HTTP/1.1 2") && !status.starts_with("HTTP/1.0 2") {
        return None;
    }
    lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("date"))
        .and_then(|(_, value)| parse_http_date(value.trim()))
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

    #[test]
    fn the_date_of_a_successful_answer_is_read() {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ndate: Fri, 04 Dec 2026 14:30:07 GMT\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(date_header(head), Some(datetime!(2026-12-04 14:30:07 UTC)));
        let head = "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n";
        assert_eq!(date_header(head), Some(datetime!(1994-11-06 08:49:37 UTC)));
    }

    #[test]
    fn no_date_a_bad_date_or_a_failure_is_nothing() {
        assert_eq!(date_header("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"), None);
        assert_eq!(
            date_header("HTTP/1.1 200 OK\r\nDate: yesterday\r\n\r\n"),
            None
        );
        assert_eq!(
            date_header("HTTP/1.1 502 Bad Gateway\r\nDate: Fri, 04 Dec 2026 14:30:07 GMT\r\n\r\n"),
            None
        );
        // A Date in the body is not a header.
        assert_eq!(
            date_header("HTTP/1.1 200 OK\r\n\r\nDate: Fri, 04 Dec 2026 14:30:07 GMT\r\n"),
            None
        );
        assert_eq!(parse_http_date("Fri, 32 Dec 2026 14:30:07 GMT"), None);
        assert_eq!(date_header(""), None);
    }
}
