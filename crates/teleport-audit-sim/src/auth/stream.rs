//! Streaming responses out: the bounded channel every server stream uses, with the
//! `drop_after_events` and `malformed_struct_next_page` knobs applied.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::conn_info::ConnInfo;
use crate::shared::Shared;

/// Which event of a response gets a malformed Struct, if the knob is armed.
pub(super) fn malformed_index(shared: &Shared, len: usize) -> Option<usize> {
    (len > 0 && shared.faults.take_malformed()).then_some(len / 2)
}

/// Streams `items` (pulled one at a time, so a lazy iterator stays lazy), cutting the
/// connection after `cut_after` of them when the `drop_after_events` knob says so. An `Err`
/// item ends the stream with that status.
pub(super) fn stream_out<T, I>(
    items: I,
    cut_after: Option<u64>,
    info: ConnInfo,
    shared: &Arc<Shared>,
) -> ReceiverStream<Result<T, Status>>
where
    T: Send + 'static,
    I: IntoIterator<Item = Result<T, Status>>,
    I::IntoIter: Send + 'static,
{
    let items = items.into_iter();
    let (tx, rx) = mpsc::channel(16);
    let stopped = shared.stopped();
    tokio::spawn(async move {
        let produce = async {
            let mut items = items;
            let mut sent: u64 = 0;
            loop {
                // Check before pulling: a lazy item past the cut is never built.
                if cut_after == Some(sent) {
                    break;
                }
                let Some(item) = items.next() else { break };
                sent += 1;
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
            if cut_after.is_some() {
                // Let what was sent reach the wire (taken from the channel, then no more
                // bytes written for a while), then abort the connection.
                for _ in 0..400 {
                    if tx.capacity() == tx.max_capacity() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                for _ in 0..40 {
                    let written = info.control.written();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if info.control.written() == written {
                        break;
                    }
                }
                info.control.cut();
            }
        };
        tokio::select! {
            () = produce => {}
            () = stopped => {}
        }
    });
    ReceiverStream::new(rx)
}
