//! Warning ahead of the identity's expiry.
//!
//! An identity's certificate is checked before every dial; an open connection keeps working
//! past its expiry (the Auth Service does not close it), so a client learns of an expired
//! identity only at the next dial, which then fails fatally (`identity_expired`). To give the
//! operator time to renew it, the client warns once per identity when it enters the warning
//! margin before `not_after`: by default a tenth of the certificate's lifetime, at most an hour
//! ([`default_margin`]), or what [`crate::ClientConfig::expiry_warning_margin`] says. The state
//! shows in [`crate::StreamStats::identity_expires_at`] and
//! [`crate::StreamStats::identity_expiring_soon`].

use std::sync::{Arc, Weak};
use std::time::Duration;

use time::OffsetDateTime;

use crate::connect::Dialer;

/// The most the default margin is.
pub const DEFAULT_MARGIN_CAP: Duration = Duration::from_secs(3600);
/// How often the watcher looks at the identity again (an identity file may be renewed, or
/// replaced by one that expires sooner).
const RECHECK: Duration = Duration::from_secs(60);

/// The default warning margin for a certificate valid from `not_before` to `not_after`: a
/// tenth of its lifetime, at most [`DEFAULT_MARGIN_CAP`] (an 8 h `tctl auth sign` identity: 48
/// min; a 1 h `tbot` one: 6 min; a 30-day one: 1 h). Zero for a lifetime that is not positive.
pub fn default_margin(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Duration {
    let lifetime: Duration = (not_after - not_before)
        .try_into()
        .unwrap_or(Duration::ZERO);
    (lifetime / 10).min(DEFAULT_MARGIN_CAP)
}

/// Whether an identity valid from `not_before` to `not_after` is within its warning margin at
/// `now` (expired included). `margin`: the configured one, or `None` for [`default_margin`];
/// a zero margin never warns before expiry.
pub fn expiring_soon(
    now: OffsetDateTime,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    margin: Option<Duration>,
) -> bool {
    now >= warning_from(not_before, not_after, margin)
}

/// When the margin begins (the earliest time for a margin reaching before it).
fn warning_from(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    margin: Option<Duration>,
) -> OffsetDateTime {
    let margin = margin.unwrap_or_else(|| default_margin(not_before, not_after));
    time::Duration::try_from(margin)
        .ok()
        .and_then(|margin| not_after.checked_sub(margin))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH - time::Duration::days(365 * 1000))
}

/// The identity's expiry and whether it is within the margin, for the identity the next dial
/// would use (an identity file is re-read if it changed). `None` without an identity.
pub(crate) fn status(dialer: &Dialer, margin: Option<Duration>) -> Option<(OffsetDateTime, bool)> {
    let identity = dialer.settings.credentials.current_identity()?;
    let summary = identity.summary();
    let soon = expiring_soon(
        OffsetDateTime::now_utc(),
        summary.not_before,
        summary.not_after,
        margin,
    );
    Some((summary.not_after, soon))
}

/// Watches the client's identity until the client is dropped, and logs one warning per
/// identity (per `not_after`) once it is within the margin.
pub(crate) async fn watch(dialer: Weak<Dialer>, margin: Option<Duration>) {
    let mut warned: Option<OffsetDateTime> = None;
    loop {
        let Some(strong) = dialer.upgrade() else {
            return;
        };
        let Some(identity) = strong.settings.credentials.current_identity() else {
            return;
        };
        drop(strong);
        let summary = identity.summary();
        let now = OffsetDateTime::now_utc();
        let soon = expiring_soon(now, summary.not_before, summary.not_after, margin);
        if soon && warned != Some(summary.not_after) {
            warned = Some(summary.not_after);
            let left: Duration = (summary.not_after - now)
                .try_into()
                .unwrap_or(Duration::ZERO);
            tracing::warn!(
                user = %summary.username,
                valid_until = %summary.not_after,
                left = %humantime::format_duration(Duration::from_secs(left.as_secs())),
                "the identity expires soon: renew it (tctl auth sign, or tbot); the open connection keeps working, but the next dial with an expired identity fails"
            );
        }
        let until_warning: Duration = (warning_from(summary.not_before, summary.not_after, margin)
            - now)
            .try_into()
            .unwrap_or(Duration::ZERO);
        let wait = if soon {
            RECHECK
        } else {
            until_warning.clamp(Duration::from_millis(10), RECHECK)
        };
        drop(identity);
        tokio::time::sleep(wait).await;
    }
}

/// Starts [`watch`] for `dialer` on the current runtime.
pub(crate) fn spawn_watch(dialer: &Arc<Dialer>, margin: Option<Duration>) {
    tokio::spawn(watch(Arc::downgrade(dialer), margin));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(seconds)
    }

    #[test]
    fn the_default_margin_is_a_tenth_of_the_lifetime_at_most_an_hour() {
        let hour = 3600;
        assert_eq!(
            default_margin(at(0), at(8 * hour)),
            Duration::from_secs(48 * 60)
        );
        assert_eq!(default_margin(at(0), at(hour)), Duration::from_secs(360));
        assert_eq!(default_margin(at(0), at(10 * hour)), DEFAULT_MARGIN_CAP);
        assert_eq!(
            default_margin(at(0), at(30 * 24 * hour)),
            DEFAULT_MARGIN_CAP
        );
        // A minute-long identity: 6 s.
        assert_eq!(default_margin(at(0), at(60)), Duration::from_secs(6));
        // Nonsense lifetimes: no margin.
        assert_eq!(default_margin(at(10), at(10)), Duration::ZERO);
        assert_eq!(default_margin(at(10), at(0)), Duration::ZERO);
    }

    #[test]
    fn expiring_soon_from_the_margin_on_expired_included() {
        let (from, to) = (at(0), at(1000));
        // Default margin: 100 s.
        assert!(!expiring_soon(at(899), from, to, None));
        assert!(expiring_soon(at(900), from, to, None));
        assert!(expiring_soon(at(1000), from, to, None));
        assert!(expiring_soon(at(5000), from, to, None));
        // A configured margin replaces the default.
        let margin = Some(Duration::from_secs(500));
        assert!(!expiring_soon(at(499), from, to, margin));
        assert!(expiring_soon(at(500), from, to, margin));
        // Zero: only once expired.
        let zero = Some(Duration::ZERO);
        assert!(!expiring_soon(at(999), from, to, zero));
        assert!(expiring_soon(at(1000), from, to, zero));
        // A margin longer than the lifetime: from the start; any margin at all: no overflow.
        assert!(expiring_soon(
            at(0),
            from,
            to,
            Some(Duration::from_secs(2000))
        ));
        assert!(expiring_soon(at(0), from, to, Some(Duration::MAX)));
    }
}
