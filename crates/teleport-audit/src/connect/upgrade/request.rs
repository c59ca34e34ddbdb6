//! The upgrade request, as Teleport's client (15 to 17) writes it.

use bytes::Bytes;
use http::Request;
use http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
    USER_AGENT,
};
use http_body_util::Empty;

use super::super::address::HostPort;
use super::{UPGRADE_PATH, UPGRADE_PROTOCOL, WEBSOCKET};

/// The upgrade request: the WebSocket upgrade with sub-protocol `alpn-ping`, plus the legacy type
/// `alpn-ping` in a second `Upgrade` line and in `X-Teleport-Upgrade` (kept if a load balancer
/// drops `Upgrade`). The proxy picks: 15 and later prefer WebSocket, 13 and 14 take the first
/// legacy type they know, from `X-Teleport-Upgrade` first.
pub(super) fn request(proxy: &HostPort, websocket_key: &str) -> Request<Empty<Bytes>> {
    let mut request = Request::new(Empty::new());
    *request.uri_mut() = http::Uri::from_static(UPGRADE_PATH);
    let headers = request.headers_mut();
    // Every value is ours (a host name checked by `HostPort`, a base64 key, constants).
    let value = |text: &str| http::HeaderValue::from_str(text).ok();
    if let Some(host) = value(&proxy.to_string()) {
        headers.insert(HOST, host);
    }
    headers.insert(
        USER_AGENT,
        http::HeaderValue::from_static(concat!("teleport-audit/", env!("CARGO_PKG_VERSION"))),
    );
    // Two Upgrade lines, WebSocket first (Go's Header.Add), as Teleport 15-17's client.
    headers.append(UPGRADE, http::HeaderValue::from_static(WEBSOCKET));
    headers.append(UPGRADE, http::HeaderValue::from_static(UPGRADE_PROTOCOL));
    headers.insert(
        "x-teleport-upgrade",
        http::HeaderValue::from_static(UPGRADE_PROTOCOL),
    );
    headers.insert(CONNECTION, http::HeaderValue::from_static("Upgrade"));
    headers.insert(
        SEC_WEBSOCKET_PROTOCOL,
        http::HeaderValue::from_static(UPGRADE_PROTOCOL),
    );
    headers.insert(SEC_WEBSOCKET_VERSION, http::HeaderValue::from_static("13"));
    if let Some(key) = value(websocket_key) {
        headers.insert(SEC_WEBSOCKET_KEY, key);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_offers_websocket_and_the_legacy_alpn_ping_like_teleport() {
        const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
        let proxy = HostPort::parse("teleport.example.com:443", 443).unwrap();
        let request = request(&proxy, KEY);
        assert_eq!(request.method(), http::Method::GET);
        assert_eq!(request.uri(), "/webapi/connectionupgrade");
        let values = |name: &str| -> Vec<&str> {
            request
                .headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect()
        };
        assert_eq!(values("Host"), ["teleport.example.com:443"]);
        // Two Upgrade lines, WebSocket first (Go's Header.Add), as Teleport 15-17's client.
        assert_eq!(values("Upgrade"), ["websocket", "alpn-ping"]);
        assert_eq!(values("X-Teleport-Upgrade"), ["alpn-ping"]);
        assert_eq!(values("Connection"), ["Upgrade"]);
        assert_eq!(values("Sec-WebSocket-Protocol"), ["alpn-ping"]);
        assert_eq!(values("Sec-WebSocket-Version"), ["13"]);
        assert_eq!(values("Sec-WebSocket-Key"), [KEY]);
        assert!(values("User-Agent")[0].starts_with("teleport-audit/"));
    }
}
