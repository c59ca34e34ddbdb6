//! [`Faults`]: knobs that make the simulated cluster misbehave, effective for the next calls.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use time::{Date, OffsetDateTime};

use crate::stats::Rpc;
use crate::store::EventStore;
use crate::{SimError, StoredEventId};

/// Sentinel of a disarmed counter.
const DISARMED: u64 = u64::MAX;

/// Events a [`Faults::late_chunk`] holds.
pub const LATE_CHUNK_EVENTS: usize = 5;

/// Fault knobs of a running cluster. Every knob takes effect for the calls that start after it
/// is set. Cheap to clone (clones share the knobs).
///
/// Knobs that target "calls" ([`Faults::fail_next`], [`Faults::stall_next`]) count calls of the
/// audit-log RPCs only, so a client's `Ping` on (re)connect does not use them up; the `_on`
/// variants target one RPC, `Ping` included.
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Inner>,
}

struct Inner {
    store: EventStore,
    drop_after_events: AtomicU64,
    drop_after_bytes: AtomicU64,
    failures: Mutex<Vec<Arm<tonic::Code>>>,
    stalls: Mutex<Vec<Arm<()>>>,
    malformed_next_page: AtomicBool,
}

/// "The next `remaining` calls matching `rpc` (`None`: any audit-log RPC) get `what`."
struct Arm<T> {
    rpc: Option<Rpc>,
    what: T,
    remaining: u32,
}

/// What the Auth Service must do with a call, decided when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallFault {
    None,
    Fail(tonic::Code),
    Stall,
}

impl Faults {
    pub(crate) fn new(store: EventStore) -> Faults {
        Faults {
            inner: Arc::new(Inner {
                store,
                drop_after_events: AtomicU64::new(DISARMED),
                drop_after_bytes: AtomicU64::new(DISARMED),
                failures: Mutex::new(Vec::new()),
                stalls: Mutex::new(Vec::new()),
                malformed_next_page: AtomicBool::new(false),
            }),
        }
    }

    /// At most `n` more events are delivered; the call that would deliver one more has its
    /// connection aborted instead (a stream sends the events up to the limit first; a search
    /// page that does not fit is never answered). Fires once.
    pub fn drop_after_events(&self, n: u64) {
        self.inner
            .drop_after_events
            .store(n.min(DISARMED - 1), Ordering::SeqCst);
    }

    /// The Auth Service writes at most `n` more bytes (TLS records, on any connection); the
    /// connection whose write crosses the limit is cut there, mid-record, and reset. Fires
    /// once.
    pub fn drop_after_bytes(&self, n: u64) {
        self.inner
            .drop_after_bytes
            .store(n.min(DISARMED - 1), Ordering::SeqCst);
    }

    /// The next `k` audit-log calls fail with `code` (e.g. `Unavailable`,
    /// `ResourceExhausted`, `Internal`).
    pub fn fail_next(&self, code: tonic::Code, k: u32) {
        arm(&self.inner.failures, None, code, k);
    }

    /// The next `k` calls of `rpc` fail with `code`.
    pub fn fail_next_on(&self, rpc: Rpc, code: tonic::Code, k: u32) {
        arm(&self.inner.failures, Some(rpc), code, k);
    }

    /// The next `k` audit-log calls are accepted and never answered, until the client gives up
    /// (cancels or times out) or the cluster stops.
    pub fn stall_next(&self, k: u32) {
        arm(&self.inner.stalls, None, (), k);
    }

    /// The next `k` calls of `rpc` are accepted and never answered.
    pub fn stall_next_on(&self, rpc: Rpc, k: u32) {
        arm(&self.inner.stalls, Some(rpc), (), k);
    }

    /// Stores one event whose JSON is at least `size_bytes` long (over 1 MiB: a page of its
    /// own; over 4 MiB: more than a default gRPC client accepts). It is served as-is, never
    /// trimmed, as a hostile or buggy server would.
    ///
    /// # Errors
    /// [`SimError::InvalidEvent`] when `time` is outside 1677..2262.
    pub fn insert_oversized_event(
        &self,
        time: OffsetDateTime,
        size_bytes: usize,
    ) -> Result<StoredEventId, SimError> {
        self.inner.store.insert_oversized(time, size_bytes)
    }

    /// The next response that carries events (search page, session stream, export stream) has
    /// one event whose `google.protobuf.Struct` bytes are garbage.
    pub fn malformed_struct_next_page(&self) {
        self.inner.malformed_next_page.store(true, Ordering::SeqCst);
    }

    /// A chunk of [`LATE_CHUNK_EVENTS`] events dated `date` (a past UTC date) appears now, as
    /// its own export chunk, after the date's other chunks were listed. With other backends the
    /// events simply arrive late.
    ///
    /// # Errors
    /// [`SimError::InvalidEvent`] when the date is out of range.
    pub fn late_chunk(&self, date: Date) -> Result<Vec<StoredEventId>, SimError> {
        self.late_chunk_with(date, LATE_CHUNK_EVENTS)
    }

    /// Like [`Faults::late_chunk`], with `count` events.
    ///
    /// # Errors
    /// [`SimError::InvalidEvent`] when the date is out of range.
    pub fn late_chunk_with(
        &self,
        date: Date,
        count: usize,
    ) -> Result<Vec<StoredEventId>, SimError> {
        self.inner.store.late_chunk(date, count)
    }

    /// Disarms every knob (stored events stay).
    pub fn clear(&self) {
        self.inner
            .drop_after_events
            .store(DISARMED, Ordering::SeqCst);
        self.inner
            .drop_after_bytes
            .store(DISARMED, Ordering::SeqCst);
        lock(&self.inner.failures).clear();
        lock(&self.inner.stalls).clear();
        self.inner
            .malformed_next_page
            .store(false, Ordering::SeqCst);
    }

    /// Decides the fate of a call of `rpc` that is starting (uses up one armed failure or
    /// stall).
    pub(crate) fn on_call(&self, rpc: Rpc) -> CallFault {
        if let Some(code) = take(&self.inner.failures, rpc) {
            return CallFault::Fail(code);
        }
        if take(&self.inner.stalls, rpc).is_some() {
            return CallFault::Stall;
        }
        CallFault::None
    }

    /// How many of `n` events a call may deliver before its connection must be cut
    /// (`None`: all of them).
    pub(crate) fn take_events(&self, n: u64) -> Option<u64> {
        let mut allowed = None;
        let _ =
            self.inner
                .drop_after_events
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    if left == DISARMED {
                        allowed = None;
                        None
                    } else if n <= left {
                        allowed = None;
                        Some(left - n)
                    } else {
                        allowed = Some(left);
                        Some(DISARMED)
                    }
                });
        allowed
    }

    /// How many of `n` bytes a connection may write (`None`: all of them; `Some(k)`: write `k`
    /// and cut).
    pub(crate) fn take_bytes(&self, n: u64) -> Option<u64> {
        if self.inner.drop_after_bytes.load(Ordering::Relaxed) == DISARMED {
            return None;
        }
        let mut allowed = None;
        let _ =
            self.inner
                .drop_after_bytes
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    if left == DISARMED {
                        allowed = None;
                        None
                    } else if n <= left {
                        allowed = None;
                        Some(left - n)
                    } else {
                        allowed = Some(left);
                        Some(DISARMED)
                    }
                });
        allowed
    }

    /// Whether `drop_after_bytes` is armed.
    pub(crate) fn bytes_armed(&self) -> bool {
        self.inner.drop_after_bytes.load(Ordering::Relaxed) != DISARMED
    }

    /// Whether this response must carry a malformed Struct (clears the knob).
    pub(crate) fn take_malformed(&self) -> bool {
        self.inner.malformed_next_page.swap(false, Ordering::SeqCst)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn arm<T>(arms: &Mutex<Vec<Arm<T>>>, rpc: Option<Rpc>, what: T, k: u32) {
    if k > 0 {
        lock(arms).push(Arm {
            rpc,
            what,
            remaining: k,
        });
    }
}

fn take<T: Clone>(arms: &Mutex<Vec<Arm<T>>>, rpc: Rpc) -> Option<T> {
    let mut arms = lock(arms);
    let pos = arms.iter().position(|a| match a.rpc {
        Some(r) => r == rpc,
        None => rpc != Rpc::Ping,
    })?;
    let what = arms[pos].what.clone();
    arms[pos].remaining -= 1;
    if arms[pos].remaining == 0 {
        arms.remove(pos);
    }
    Some(what)
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counter = |a: &AtomicU64| match a.load(Ordering::Relaxed) {
            DISARMED => None,
            n => Some(n),
        };
        f.debug_struct("Faults")
            .field("drop_after_events", &counter(&self.inner.drop_after_events))
            .field("drop_after_bytes", &counter(&self.inner.drop_after_bytes))
            .field("failures_armed", &lock(&self.inner.failures).len())
            .field("stalls_armed", &lock(&self.inner.stalls).len())
            .field(
                "malformed_next_page",
                &self.inner.malformed_next_page.load(Ordering::Relaxed),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    fn faults() -> Faults {
        let store = EventStore::new(StoreConfig {
            seed: 1,
            cluster: "c".into(),
            clock: crate::Clock::system(),
            backend: crate::Backend::Immediate,
            backlog: None,
            live_rate: 0.0,
            cache_bytes: 0,
            final_page_key_probability: 0.0,
            sessions: 0,
            recordings: None,
        })
        .unwrap();
        Faults::new(store)
    }

    #[test]
    fn call_faults_are_used_up_in_order_and_spare_ping_unless_targeted() {
        let f = faults();
        f.fail_next(tonic::Code::Unavailable, 2);
        f.stall_next_on(Rpc::Ping, 1);
        assert_eq!(f.on_call(Rpc::Ping), CallFault::Stall);
        assert_eq!(f.on_call(Rpc::Ping), CallFault::None);
        assert_eq!(
            f.on_call(Rpc::GetUnstructuredEvents),
            CallFault::Fail(tonic::Code::Unavailable)
        );
        assert_eq!(
            f.on_call(Rpc::ExportUnstructuredEvents),
            CallFault::Fail(tonic::Code::Unavailable)
        );
        assert_eq!(f.on_call(Rpc::GetUnstructuredEvents), CallFault::None);
    }

    #[test]
    fn event_and_byte_budgets_fire_once() {
        let f = faults();
        assert_eq!(f.take_events(1_000), None, "disarmed");
        f.drop_after_events(10);
        assert_eq!(f.take_events(4), None);
        assert_eq!(f.take_events(6), None);
        assert_eq!(f.take_events(1), Some(0), "the 11th event is cut");
        assert_eq!(f.take_events(1), None, "fired once");
        f.drop_after_bytes(100);
        assert_eq!(f.take_bytes(60), None);
        assert_eq!(f.take_bytes(60), Some(40));
        assert_eq!(f.take_bytes(60), None);
        f.malformed_struct_next_page();
        assert!(f.take_malformed());
        assert!(!f.take_malformed());
        f.drop_after_events(1);
        f.clear();
        assert_eq!(f.take_events(5), None);
        assert_eq!(
            format!("{f:?}"),
            "Faults { drop_after_events: None, drop_after_bytes: None, failures_armed: 0, stalls_armed: 0, malformed_next_page: false }"
        );
    }
}
