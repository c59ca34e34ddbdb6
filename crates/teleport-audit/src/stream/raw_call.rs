//! A gRPC call made and read by hand, for the one case tonic cannot serve: a response message
//! larger than any receive limit we accept. The request is framed here, sent over the client's
//! channel, and the response body is read as it streams in (a frame header, varints,
//! length-delimited fields, skips), never holding a whole message; then the trailers' status.
//! What the fields mean is the caller's business ([`super::oversized`]; a session's recording,
//! whose legacy call answers typed messages tonic has no stub for: `crate::session`).

use bytes::{Buf, Bytes};
use http_body_util::BodyExt as _;
use tonic::transport::Channel;
use tower::ServiceExt as _;

use crate::error::{Error, ServerError, SettingError};
use crate::rpc;
use crate::rpc_name::Rpc;

/// Cap for the small fields we keep (ids, keys, timestamps, export cursors).
const SMALL_FIELD_CAP: u64 = 1024 * 1024;

/// Sends one gRPC request (`message`, unframed) to `path` and returns the response body to read,
/// once the headers say the call was accepted.
pub(crate) async fn open(
    channel: Channel,
    rpc: Rpc,
    path: &str,
    message: Vec<u8>,
) -> Result<BodyReader, Error> {
    match open_call(channel, rpc, path, message).await? {
        Opened::Body(body) => Ok(body),
        Opened::Refused(status) => Err(rpc::status_to_error(rpc, status)),
    }
}

/// How the server answered a call's headers.
pub(crate) enum Opened {
    /// Accepted: the response body to read.
    Body(BodyReader),
    /// Refused at once with this status (a "trailers-only" answer): the server's own status.
    Refused(tonic::Status),
}

/// [`open`], keeping a refusal as the server's status (the caller tells the server's statuses
/// from failures of the connection).
pub(crate) async fn open_call(
    channel: Channel,
    rpc: Rpc,
    path: &str,
    message: Vec<u8>,
) -> Result<Opened, Error> {
    let mut framed = Vec::with_capacity(message.len() + 5);
    framed.push(0); // not compressed
    framed.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    framed.extend_from_slice(&message);

    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://teleport.cluster.local{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(http_body_util::Full::new(
            Bytes::from(framed),
        )))
        .map_err(|e| {
            Error::Setting(SettingError::config_caused_by(
                "raw gRPC request",
                "the request cannot be built",
                e,
            ))
        })?;
    let response = channel
        .oneshot(request)
        .await
        .map_err(|e| rpc::status_to_error(rpc, tonic::Status::from_error(Box::new(e))))?;
    // A "trailers-only" answer carries the status in the headers.
    if let Some(status) = tonic::Status::from_header_map(response.headers())
        && status.code() != tonic::Code::Ok
    {
        return Ok(Opened::Refused(status));
    }
    Ok(Opened::Body(BodyReader::new(rpc, response.into_body())))
}

pub(crate) struct BodyReader {
    rpc: Rpc,
    body: tonic::body::Body,
    chunk: Bytes,
    /// Bytes consumed from the body so far.
    position: u64,
    trailers: Option<http::HeaderMap>,
}

impl BodyReader {
    /// A reader of `body`, the answer to `rpc`.
    pub(crate) fn new(rpc: Rpc, body: tonic::body::Body) -> Self {
        Self {
            rpc,
            body,
            chunk: Bytes::new(),
            position: 0,
            trailers: None,
        }
    }

    /// Bytes consumed from the body so far.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    pub(crate) fn malformed(&self, what: &str) -> Error {
        Error::Server(ServerError::Status {
            rpc: self.rpc,
            code: tonic::Code::Internal,
            message: format!("malformed response: {what}"),
        })
    }

    /// The call's status from the trailers, once the body has been read to its end.
    pub(crate) fn check_trailers(&self) -> Result<(), Error> {
        match self.trailer_status() {
            Some(status) => Err(rpc::status_to_error(self.rpc, status)),
            None => Ok(()),
        }
    }

    /// The server's failure status from the trailers (`None`: OK, or no trailers yet), once
    /// the body has been read to its end.
    pub(crate) fn trailer_status(&self) -> Option<tonic::Status> {
        self.trailers
            .as_ref()
            .and_then(tonic::Status::from_header_map)
            .filter(|status| status.code() != tonic::Code::Ok)
    }

    /// Reads a gRPC frame header; returns the message length.
    pub(crate) async fn frame_header(&mut self) -> Result<u64, Error> {
        if self.byte().await? != 0 {
            return Err(self.malformed("a compressed message (none was asked for)"));
        }
        let mut len_bytes = [0u8; 4];
        for byte in &mut len_bytes {
            *byte = self.byte().await?;
        }
        Ok(u64::from(u32::from_be_bytes(len_bytes)))
    }

    /// Makes at least one byte available; false at the end of the body.
    pub(crate) async fn fill(&mut self) -> Result<bool, Error> {
        while self.chunk.is_empty() {
            match self.body.frame().await {
                None => return Ok(false),
                Some(Err(status)) => return Err(rpc::status_to_error(self.rpc, status)),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.chunk = data,
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            self.trailers = Some(trailers);
                        }
                    }
                },
            }
        }
        Ok(true)
    }

    pub(crate) async fn byte(&mut self) -> Result<u8, Error> {
        if !self.fill().await? {
            return Err(self.malformed("the response ended early"));
        }
        self.position += 1;
        Ok(self.chunk.get_u8())
    }

    pub(crate) async fn varint(&mut self) -> Result<u64, Error> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte().await?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed("a varint is longer than 10 bytes"))
    }

    pub(crate) async fn bytes(&mut self, len: u64) -> Result<Vec<u8>, Error> {
        if len > SMALL_FIELD_CAP {
            return Err(self.malformed("a small field is over 1 MiB"));
        }
        self.exact(len).await
    }

    /// Reads the next `len` bytes (the caller bounds `len`).
    pub(crate) async fn exact(&mut self, len: u64) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(len as usize);
        while (out.len() as u64) < len {
            if !self.fill().await? {
                return Err(self.malformed("the response ended early"));
            }
            let take = self.chunk.len().min(len as usize - out.len());
            out.extend_from_slice(&self.chunk[..take]);
            self.chunk.advance(take);
            self.position += take as u64;
        }
        Ok(out)
    }

    pub(crate) async fn skip(&mut self, mut len: u64) -> Result<(), Error> {
        while len > 0 {
            if !self.fill().await? {
                return Err(self.malformed("the response ended early"));
            }
            let take = (self.chunk.len() as u64).min(len);
            self.chunk.advance(take as usize);
            self.position += take;
            len -= take;
        }
        Ok(())
    }

    /// Skips a field's value of `wire_type`.
    pub(crate) async fn skip_field(&mut self, wire_type: u64) -> Result<(), Error> {
        match wire_type {
            0 => self.varint().await.map(drop),
            1 => self.skip(8).await,
            2 => {
                let len = self.varint().await?;
                self.skip(len).await
            }
            5 => self.skip(4).await,
            _ => Err(self.malformed("unsupported wire type")),
        }
    }

    /// Where a message of `len` bytes starting at the position ends (the length is the
    /// server's: it may be anything).
    pub(crate) fn end_of(&self, len: u64) -> Result<u64, Error> {
        self.position
            .checked_add(len)
            .ok_or_else(|| self.malformed("a length runs past any message"))
    }

    /// Checks that a message ending at `end` ended exactly at the position.
    pub(crate) fn check_end(&self, end: u64) -> Result<(), Error> {
        if self.position == end {
            Ok(())
        } else {
            Err(self.malformed("a field runs past its message"))
        }
    }

    pub(crate) async fn drain(&mut self) -> Result<(), Error> {
        loop {
            self.chunk.clear();
            if !self.fill().await? {
                return Ok(());
            }
        }
    }
}
