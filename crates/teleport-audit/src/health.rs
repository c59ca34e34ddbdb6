//! The health rule of a stream: a pure function of its [`StreamStats`] and the time, behind the
//! metrics server's `/healthz` and the `teleport_audit_healthy` gauge, usable in any health check
//! of your own.

use std::fmt;
use std::time::Duration;

use time::OffsetDateTime;

use crate::stats::StreamStats;

/// How long a stream may go without a successful call before [`HealthRule::check`] calls it
/// stalled: five minutes. A stream that is caught up still succeeds a call every poll interval
/// (2 s in search mode, 15 s in export mode), and a stall is reported in the stream's stats
/// after a minute ([`crate::DEFAULT_STALL_REPORT_AFTER`]); five minutes leaves room for a
/// restarting Auth Service without paging anyone.
pub const DEFAULT_STALL_BOUND: Duration = Duration::from_secs(5 * 60);

/// When a stream counts as healthy. See [`HealthRule::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthRule {
    /// The longest time without a successful call that is still healthy (default
    /// [`DEFAULT_STALL_BOUND`]).
    pub stall_bound: Duration,
}

impl Default for HealthRule {
    fn default() -> Self {
        Self {
            stall_bound: DEFAULT_STALL_BOUND,
        }
    }
}

impl HealthRule {
    /// A rule with this stall bound.
    pub fn with_stall_bound(stall_bound: Duration) -> Self {
        Self { stall_bound }
    }

    /// Sets the longest time without a successful call that is still healthy.
    #[must_use]
    pub fn stall_bound(mut self, bound: Duration) -> Self {
        self.stall_bound = bound;
        self
    }

    /// The health of a stream whose stats are `stats`, watched since `watching_since` (when the
    /// stream, or the process, started), at `now`:
    ///
    /// - [`Health::Failed`] once the stream has yielded a fatal error ([`StreamStats::fatal`]);
    /// - else [`Health::Stalled`] when no call has succeeded for longer than the stall bound:
    ///   since the last successful call, or since `watching_since` when none has succeeded yet
    ///   (a stream still connecting, or failing from its first call);
    /// - else [`Health::Healthy`]: the stream makes progress, or is caught up and polling.
    ///
    /// Exactly the bound is still healthy. A last success (or start) in the future, as after
    /// this machine's clock was set back, counts as just now.
    pub fn check(
        &self,
        stats: &StreamStats,
        watching_since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Health {
        if let Some(code) = stats.fatal {
            return Health::Failed { code };
        }
        let reference = stats.last_success.unwrap_or(watching_since);
        let silent_for: Duration = (now - reference).try_into().unwrap_or(Duration::ZERO);
        if silent_for > self.stall_bound {
            return Health::Stalled {
                last_success: stats.last_success,
                silent_for,
                last_error: stats.last_error,
            };
        }
        Health::Healthy
    }
}

/// The verdict of a [`HealthRule`]. Its `Display` is the text `/healthz` answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// Making progress, or caught up and polling: a call succeeded within the stall bound (or
    /// the stream started less than the bound ago).
    Healthy,
    /// No successful call for longer than the stall bound. The stream keeps retrying; it may
    /// recover by itself.
    Stalled {
        /// When a call last succeeded (`None`: no call has succeeded yet).
        last_success: Option<OffsetDateTime>,
        /// How long since then (or since the stream started).
        silent_for: Duration,
        /// The code of the most recent failure ([`crate::Error::code`]), if any.
        last_error: Option<&'static str>,
    },
    /// The stream ended with a fatal error (needs a person: see [`crate::Error::advice`]).
    Failed {
        /// The error's code ([`crate::Error::code`]).
        code: &'static str,
    },
}

impl Health {
    /// Whether this is [`Health::Healthy`].
    pub fn is_healthy(&self) -> bool {
        matches!(self, Health::Healthy)
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Healthy => f.write_str("ok"),
            Health::Stalled {
                last_success,
                silent_for,
                last_error,
            } => {
                let secs = silent_for.as_secs();
                match last_success {
                    Some(at) => write!(
                        f,
                        "stalled: no successful call for {secs}s (last one at {})",
                        rfc3339(*at)
                    )?,
                    None => write!(
                        f,
                        "stalled: no successful call in the {secs}s since the stream started"
                    )?,
                }
                if let Some(code) = last_error {
                    write!(f, "; last error: {code}")?;
                }
                Ok(())
            }
            Health::Failed { code } => {
                write!(f, "failed: the stream ended with a fatal error ({code})")
            }
        }
    }
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| time.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: OffsetDateTime = time::macros::datetime!(2025-12-01 10:00 UTC);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn rule() -> HealthRule {
        HealthRule::with_stall_bound(secs(300))
    }

    fn succeeded_at(at: OffsetDateTime) -> StreamStats {
        StreamStats {
            last_success: Some(at),
            ..StreamStats::default()
        }
    }

    #[test]
    fn a_recent_success_is_healthy() {
        let stats = succeeded_at(T0);
        assert_eq!(rule().check(&stats, T0, T0), Health::Healthy);
        assert_eq!(rule().check(&stats, T0, T0 + secs(299)), Health::Healthy);
    }

    #[test]
    fn exactly_the_bound_is_healthy_and_one_second_more_is_stalled() {
        let mut stats = succeeded_at(T0);
        stats.last_error = Some("unavailable");
        assert_eq!(rule().check(&stats, T0, T0 + secs(300)), Health::Healthy);
        assert_eq!(
            rule().check(&stats, T0, T0 + secs(301)),
            Health::Stalled {
                last_success: Some(T0),
                silent_for: secs(301),
                last_error: Some("unavailable"),
            }
        );
    }

    #[test]
    fn the_last_success_counts_not_the_start() {
        // Started long ago, but succeeded recently: healthy.
        let stats = succeeded_at(T0 + secs(1000));
        assert_eq!(rule().check(&stats, T0, T0 + secs(1200)), Health::Healthy);
    }

    #[test]
    fn before_any_success_the_start_counts() {
        let stats = StreamStats::default();
        assert_eq!(rule().check(&stats, T0, T0 + secs(300)), Health::Healthy);
        assert_eq!(
            rule().check(&stats, T0, T0 + secs(400)),
            Health::Stalled {
                last_success: None,
                silent_for: secs(400),
                last_error: None,
            }
        );
    }

    #[test]
    fn a_fatal_error_is_unhealthy_even_right_after_a_success() {
        let mut stats = succeeded_at(T0);
        stats.fatal = Some("permission_denied");
        let health = rule().check(&stats, T0, T0);
        assert_eq!(
            health,
            Health::Failed {
                code: "permission_denied"
            }
        );
        assert!(!health.is_healthy());
    }

    #[test]
    fn a_fatal_error_wins_over_a_stall() {
        let mut stats = succeeded_at(T0);
        stats.fatal = Some("identity_expired");
        assert!(matches!(
            rule().check(&stats, T0, T0 + secs(10_000)),
            Health::Failed {
                code: "identity_expired"
            }
        ));
    }

    #[test]
    fn a_clock_set_back_counts_as_just_now() {
        let stats = succeeded_at(T0 + secs(3600));
        assert_eq!(rule().check(&stats, T0, T0), Health::Healthy);
        let never = StreamStats::default();
        assert_eq!(rule().check(&never, T0 + secs(3600), T0), Health::Healthy);
    }

    #[test]
    fn a_zero_bound_is_stalled_after_any_silence() {
        let rule = HealthRule::default().stall_bound(Duration::ZERO);
        let stats = succeeded_at(T0);
        assert!(rule.check(&stats, T0, T0).is_healthy());
        assert!(!rule.check(&stats, T0, T0 + secs(1)).is_healthy());
    }

    #[test]
    fn the_default_bound_is_five_minutes() {
        assert_eq!(HealthRule::default().stall_bound, secs(300));
    }

    #[test]
    fn display_says_why() {
        assert_eq!(Health::Healthy.to_string(), "ok");
        assert_eq!(
            Health::Stalled {
                last_success: Some(T0),
                silent_for: secs(301),
                last_error: Some("unavailable"),
            }
            .to_string(),
            "stalled: no successful call for 301s (last one at 2025-12-01T10:00:00Z); last error: unavailable"
        );
        assert_eq!(
            Health::Stalled {
                last_success: None,
                silent_for: secs(400),
                last_error: None,
            }
            .to_string(),
            "stalled: no successful call in the 400s since the stream started"
        );
        assert_eq!(
            Health::Failed {
                code: "permission_denied"
            }
            .to_string(),
            "failed: the stream ended with a fatal error (permission_denied)"
        );
    }
}
