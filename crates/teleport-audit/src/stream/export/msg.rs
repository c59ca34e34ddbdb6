//! [`Msg`]: what the driver and the chunk readers queue for the consumer, applied in order.

use std::sync::Arc;

use time::Date;

use super::export_core::Progress;
use crate::error::Error;
use crate::stream::page::PageItem;

/// One step of an export stream, applied by the consumer in order.
// Nearly every message is an `Item`; boxing it would add an allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Msg {
    /// An event of a chunk, with Teleport's position right after it (which also covers any
    /// filtered-out events before it).
    Item {
        date: Date,
        chunk: Arc<str>,
        position: String,
        item: PageItem,
    },
    /// Every event of the chunk has been sent.
    ChunkDone { date: Date, chunk: Arc<str> },
    /// A date listed or dropped, or a new caught-up time (from the driver's core).
    Progress(Progress),
    /// A fatal error: yielded, then the stream ends.
    Fatal(Error),
    /// The end time was reached.
    Finished,
}
