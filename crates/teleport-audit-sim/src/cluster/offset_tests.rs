//! A cluster whose clock is offset from the real one: every "server time" follows the offset.

use std::collections::BTreeSet;
use std::time::Duration;

use time::OffsetDateTime;

use crate::json::{day_of, to_nanos};
use crate::store::{Resume, SearchQuery};
use crate::{Backend, SimCluster};

const OFFSETS: [time::Duration; 2] = [time::Duration::hours(1), time::Duration::hours(-1)];

fn nanos(t: OffsetDateTime) -> i64 {
    to_nanos(t).unwrap()
}

/// The ids one search call (one big page) returns for `[start, end]`.
fn search(sim: &SimCluster, start: OffsetDateTime, end: OffsetDateTime) -> Vec<String> {
    let page = sim
        .store()
        .inner()
        .search(&SearchQuery {
            start: nanos(start),
            end: nanos(end),
            event_types: &[],
            limit: 10_000,
            resume: Resume::Start,
            ascending: true,
            byte_cap: 64 << 20,
        })
        .unwrap();
    page.events
        .iter()
        .map(|e| e.body.uid_text.to_string())
        .collect()
}

#[tokio::test]
async fn live_events_are_stamped_with_the_server_time_and_search_follows_it() {
    for offset in OFFSETS {
        let real_start = OffsetDateTime::now_utc();
        let sim = SimCluster::builder()
            .backend(Backend::Immediate)
            .live_rate(200.0)
            .clock_offset(offset)
            .start()
            .await
            .unwrap();
        assert_eq!(sim.clock().offset(), Some(offset));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let server_now = sim.clock().now();
        let real_now = OffsetDateTime::now_utc();
        // The server's clock is the real one plus the offset.
        assert!(server_now - real_now <= offset && offset <= server_now - real_start);

        // Every live event lies between the server's start and its now (whole milliseconds).
        let wide = time::Duration::hours(3);
        let live = sim.store().ids_in_range(real_now - wide, real_now + wide);
        assert!(live.len() >= 10, "{offset}: {} live events", live.len());
        let first_possible = real_start + offset - time::Duration::milliseconds(1);
        for (t, _) in &live {
            assert!(
                (first_possible..=server_now).contains(t),
                "{offset}: {t} not in [{first_possible}, {server_now}]"
            );
        }

        // Search around the server's now finds them; around the real now, nothing.
        let minute = time::Duration::minutes(1);
        let found = search(&sim, server_now - minute, server_now);
        let mut expected: Vec<String> = live.iter().map(|(_, id)| id.clone()).collect();
        expected.sort();
        let mut sorted = found.clone();
        sorted.sort();
        assert!(
            sorted.len() >= expected.len() && expected.iter().all(|id| sorted.contains(id)),
            "{offset}: search returned {} of {} live events",
            found.len(),
            expected.len()
        );
        assert!(
            search(&sim, real_now - minute, real_now).is_empty(),
            "{offset}"
        );

        // Visibility is judged against the server's clock: an event due half an hour after
        // the real now is visible on a server an hour ahead, and one due half an hour before
        // the real now is not yet visible on a server an hour behind.
        let due = real_now + offset / 2;
        let json = format!(
            r#"{{"event":"exec","uid":"00000000-0000-4000-8000-0000000000ff","time":"{}"}}"#,
            crate::json::rfc3339_nano(nanos(server_now - minute / 2))
        );
        let stored = sim.store().insert(&json, Some(due)).unwrap();
        let visible =
            search(&sim, server_now - minute, server_now).contains(&stored.uid().to_string());
        assert_eq!(visible, offset.is_positive(), "{offset}: due {due}");
        assert_eq!(
            sim.store()
                .visible_ids_in_range(server_now - minute, server_now)
                .iter()
                .any(|(_, id)| id == stored.uid()),
            offset.is_positive()
        );
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn a_recent_backlog_ends_at_the_server_now() {
    for offset in OFFSETS {
        let sim = SimCluster::builder()
            .backend(Backend::Immediate)
            .recent_backlog(300, Duration::from_secs(3600))
            .clock_offset(offset)
            .start()
            .await
            .unwrap();
        let server_now = sim.clock().now();
        let hour = time::Duration::hours(1);
        let all = sim
            .store()
            .ids_in_range(server_now - 3 * hour, server_now + 3 * hour);
        assert_eq!(all.len(), 300, "{offset}");
        let (first, last) = (all[0].0, all[all.len() - 1].0);
        assert!(
            first >= server_now - hour - time::Duration::seconds(1),
            "{first}"
        );
        assert!(last <= server_now, "{offset}: {last} after {server_now}");
        // All of it is history: visible at once, by the server's clock.
        assert_eq!(
            sim.store()
                .visible_ids_in_range(server_now - 3 * hour, server_now)
                .len(),
            300
        );
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn export_lists_the_server_date_and_flushes_by_the_server_clock() {
    // Three days behind: the server's dates are not the real ones.
    let offset = time::Duration::days(-3);
    let flush = Duration::from_millis(100);
    let sim = SimCluster::builder()
        .backend(Backend::Athena {
            flush_interval: flush,
        })
        .recent_backlog(50, Duration::from_secs(600))
        .live_rate(100.0)
        .clock_offset(offset)
        .start()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Stop the generator, then wait for a flush past its last event: everything is exported.
    sim.store().set_live_rate(0.0).unwrap();
    tokio::time::sleep(3 * flush).await;
    let inner = sim.store().inner();
    let real_day = day_of(nanos(OffsetDateTime::now_utc()));
    assert!(inner.chunks(real_day).is_empty());

    let server_now = sim.clock().now();
    let held: BTreeSet<String> = sim
        .store()
        .ids_in_range(server_now - time::Duration::days(1), server_now)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert!(
        held.len() > 60,
        "the backlog and live events: {}",
        held.len()
    );
    let mut exported = BTreeSet::new();
    let first_day = day_of(nanos(server_now - time::Duration::minutes(10)));
    for day in first_day..=day_of(nanos(server_now)) {
        for chunk in inner.chunks(day) {
            for event in inner.chunk_events(day, &chunk).unwrap().unwrap() {
                assert!(exported.insert(event.body.uid_text.to_string()));
            }
        }
    }
    assert_eq!(exported, held);
    sim.shutdown().await;
}

/// The `Date` header of the proxy's answer to `GET /webapi/ping`.
async fn web_date(sim: &SimCluster) -> OffsetDateTime {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let mut roots = rustls::RootCertStore::empty();
    roots.add(sim.ca().web_ca_certificate()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(sim.proxy_addr())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /webapi/ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    let dates: Vec<&str> = response
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("date: "))
        .collect();
    assert_eq!(dates.len(), 1, "{response}");
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(dates[0], format)
        .unwrap()
        .assume_utc()
}

#[tokio::test]
async fn the_proxy_date_header_carries_the_server_time() {
    for offset in OFFSETS {
        let sim = SimCluster::builder()
            .clock_offset(offset)
            .start()
            .await
            .unwrap();
        let before = sim.clock().now() - time::Duration::seconds(1);
        let date = web_date(&sim).await;
        let after = sim.clock().now();
        assert!((before..=after).contains(&date), "{offset}: {date}");
        sim.shutdown().await;
    }
}
