//! One test per rule of the export core (`docs/cursor.md`, "Export mode"), with its edges.

use super::*;
use time::macros::datetime;

#[test]
fn a_stream_from_now_starts_at_the_servers_time_when_known() {
    let listed_at = datetime!(2025-12-02 12:00 UTC);
    assert_eq!(
        start_from(listed_at, Some(time::Duration::hours(-1))),
        datetime!(2025-12-02 11:00 UTC)
    );
    assert_eq!(start_from(listed_at, Some(time::Duration::ZERO)), listed_at);
    assert_eq!(start_from(listed_at, None), datetime!(2025-12-02 10:00 UTC));
}
