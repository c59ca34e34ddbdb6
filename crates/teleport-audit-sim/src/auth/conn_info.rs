//! [`ConnInfo`]: what a handler knows about the connection its call came on (set by the
//! router, read by the services).

use std::net::SocketAddr;
use std::sync::Arc;

use super::caller::Caller;
use crate::conn::ConnControl;

/// What a handler knows about its connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub(crate) caller: Option<Arc<Caller>>,
    pub(crate) control: Arc<ConnControl>,
    pub(crate) peer: SocketAddr,
}
