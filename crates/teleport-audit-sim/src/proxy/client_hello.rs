//! Reads a TLS ClientHello without terminating TLS: the bytes are kept so they can be replayed
//! to whoever terminates the connection (the Auth Service, or the proxy's own TLS).

use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest ClientHello accepted (real ones are a few hundred bytes to a few KiB).
const MAX_HELLO: usize = 64 * 1024;
const RECORD_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;

/// What routing needs from a ClientHello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClientHello {
    pub(crate) server_name: Option<String>,
    /// ALPN protocols in the client's order.
    pub(crate) alpn: Vec<String>,
}

/// Why the first bytes of a connection are not a usable ClientHello.
#[derive(Debug)]
pub(crate) enum HelloError {
    Io(std::io::Error),
    NotTls(u8),
    Malformed(&'static str),
    TooLarge,
}

impl std::fmt::Display for HelloError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HelloError::Io(e) => write!(f, "connection failed before the ClientHello: {e}"),
            HelloError::NotTls(b) => write!(f, "not TLS: first byte 0x{b:02x}"),
            HelloError::Malformed(what) => write!(f, "malformed ClientHello: {what}"),
            HelloError::TooLarge => write!(f, "ClientHello larger than {MAX_HELLO} bytes"),
        }
    }
}

/// Reads TLS records from `stream` until a whole ClientHello arrived. Returns every byte read
/// (to replay) and the parsed hello.
pub(crate) async fn read_client_hello<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(Vec<u8>, ClientHello), HelloError> {
    let mut raw = Vec::with_capacity(1024);
    let mut handshake = Vec::with_capacity(1024);
    loop {
        let mut header = [0u8; 5];
        stream
            .read_exact(&mut header)
            .await
            .map_err(HelloError::Io)?;
        raw.extend_from_slice(&header);
        if header[0] != RECORD_HANDSHAKE {
            return Err(HelloError::NotTls(header[0]));
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 || len > 16_384 + 2_048 {
            return Err(HelloError::Malformed("record length"));
        }
        let start = raw.len();
        raw.resize(start + len, 0);
        stream
            .read_exact(&mut raw[start..])
            .await
            .map_err(HelloError::Io)?;
        handshake.extend_from_slice(&raw[start..]);
        if raw.len() > MAX_HELLO {
            return Err(HelloError::TooLarge);
        }
        if handshake.len() >= 4 {
            if handshake[0] != HANDSHAKE_CLIENT_HELLO {
                return Err(HelloError::Malformed(
                    "first handshake message is not a ClientHello",
                ));
            }
            let body_len = usize::from(handshake[1]) << 16
                | usize::from(handshake[2]) << 8
                | usize::from(handshake[3]);
            if body_len > MAX_HELLO {
                return Err(HelloError::TooLarge);
            }
            if handshake.len() >= 4 + body_len {
                let hello =
                    parse_body(&handshake[4..4 + body_len]).map_err(HelloError::Malformed)?;
                return Ok((raw, hello));
            }
        }
    }
}

/// A cursor over a byte slice with bounds-checked reads.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], &'static str> {
        if self.rest.len() < n {
            return Err(what);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<usize, &'static str> {
        Ok(usize::from(self.take(1, what)?[0]))
    }

    fn u16(&mut self, what: &'static str) -> Result<usize, &'static str> {
        let b = self.take(2, what)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], &'static str> {
        let n = self.u8(what)?;
        self.take(n, what)
    }

    fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], &'static str> {
        let n = self.u16(what)?;
        self.take(n, what)
    }
}

/// Parses the body of a ClientHello handshake message.
pub(crate) fn parse_body(body: &[u8]) -> Result<ClientHello, &'static str> {
    let mut r = Reader { rest: body };
    r.take(2 + 32, "version and random")?;
    r.vec8("session id")?;
    r.vec16("cipher suites")?;
    r.vec8("compression methods")?;
    let mut hello = ClientHello::default();
    if r.rest.is_empty() {
        return Ok(hello);
    }
    let mut exts = Reader {
        rest: r.vec16("extensions")?,
    };
    while !exts.rest.is_empty() {
        let kind = exts.u16("extension type")? as u16;
        let mut data = Reader {
            rest: exts.vec16("extension data")?,
        };
        match kind {
            EXT_SERVER_NAME => {
                let mut list = Reader {
                    rest: data.vec16("server name list")?,
                };
                while !list.rest.is_empty() {
                    let name_type = list.u8("server name type")?;
                    let name = list.vec16("server name")?;
                    if name_type == 0 {
                        hello.server_name = Some(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            EXT_ALPN => {
                let mut list = Reader {
                    rest: data.vec16("ALPN list")?,
                };
                while !list.rest.is_empty() {
                    let proto = list.vec8("ALPN protocol")?;
                    if proto.is_empty() {
                        return Err("empty ALPN protocol");
                    }
                    hello.alpn.push(String::from_utf8_lossy(proto).into_owned());
                }
            }
            _ => {}
        }
    }
    Ok(hello)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A real ClientHello, written by rustls.
    fn rustls_hello(alpn: &[&str], server_name: &str) -> Vec<u8> {
        let roots = rustls::RootCertStore::empty();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).unwrap();
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut out = Vec::new();
        conn.write_tls(&mut out).unwrap();
        out
    }

    #[tokio::test]
    async fn reads_rustls_hello_and_keeps_every_byte() {
        let bytes = rustls_hello(
            &["teleport-auth@73696d.teleport.cluster.local", "h2"],
            "teleport.cluster.local",
        );
        let mut input = bytes.clone();
        input.extend_from_slice(b"more");
        let mut cursor = std::io::Cursor::new(input);
        let (raw, hello) = read_client_hello(&mut cursor).await.unwrap();
        assert_eq!(raw, bytes);
        assert_eq!(
            hello.alpn,
            vec!["teleport-auth@73696d.teleport.cluster.local", "h2"]
        );
        assert_eq!(hello.server_name.as_deref(), Some("teleport.cluster.local"));
    }

    #[tokio::test]
    async fn reassembles_a_hello_split_across_records() {
        let bytes = rustls_hello(&["h2"], "localhost");
        let payload = &bytes[5..];
        let (a, b) = payload.split_at(40);
        let mut split = Vec::new();
        for part in [a, b] {
            split.extend_from_slice(&[22, 3, 1]);
            split.extend_from_slice(&(part.len() as u16).to_be_bytes());
            split.extend_from_slice(part);
        }
        let (raw, hello) = read_client_hello(&mut std::io::Cursor::new(split.clone()))
            .await
            .unwrap();
        assert_eq!(raw, split);
        assert_eq!(hello.alpn, vec!["h2"]);
    }

    #[tokio::test]
    async fn refuses_what_is_not_a_hello() {
        let err = read_client_hello(&mut std::io::Cursor::new(
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        ))
        .await
        .unwrap_err();
        assert!(matches!(err, HelloError::NotTls(b'G')), "{err}");
        let bytes = rustls_hello(&["h2"], "localhost");
        let err = read_client_hello(&mut std::io::Cursor::new(bytes[..bytes.len() - 3].to_vec()))
            .await
            .unwrap_err();
        assert!(matches!(err, HelloError::Io(_)), "{err}");
        assert_eq!(parse_body(&bytes[9..60]), Err("session id"));
        assert_eq!(parse_body(&bytes[9..30]), Err("version and random"));
    }
}
