//! [`Task`]: a spawned future that is aborted when its owner drops it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::{JoinError, JoinHandle};

use crate::error::{Error, InternalError};

/// A spawned task, aborted if dropped (so a dropped stream leaves no calls running).
pub(crate) struct Task<T>(JoinHandle<T>);

impl<T: Send + 'static> Task<T> {
    pub(crate) fn spawn<F>(future: F) -> Self
    where
        F: Future<Output = T> + Send + 'static,
    {
        Self(tokio::spawn(future))
    }
}

impl<T> Task<T> {
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The error for a task of the stream's own that ended without its result: it panicked (being
/// cancelled takes dropping its [`Task`], after which nobody polls it). Fatal
/// ([`InternalError::TaskFailed`]): retrying would panic again, forever. The panic's own message is
/// printed by the panic hook, not here.
pub(crate) fn failed(task: &'static str, error: &JoinError) -> Error {
    tracing::error!(
        task,
        panicked = error.is_panic(),
        "a task of the stream failed"
    );
    Error::Internal(InternalError::TaskFailed { task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicked_task_is_a_fatal_error_of_class_other() {
        let mut task = Task::spawn(async {
            if std::hint::black_box(true) {
                panic!("a bug");
            }
        });
        let joined = std::future::poll_fn(|cx| task.poll(cx)).await;
        let error = failed("page fetch", &joined.unwrap_err());
        assert!(
            matches!(
                error,
                Error::Internal(InternalError::TaskFailed { task: "page fetch" })
            ),
            "{error:?}"
        );
        assert!(error.is_fatal() && !error.is_retryable());
        assert_eq!(error.code(), "task_failed");
        assert_eq!(error.class(), crate::ErrorClass::Other);
        assert_eq!(
            error.to_string(),
            "the stream's page fetch task failed (it panicked): a bug in teleport-audit"
        );
    }
}
