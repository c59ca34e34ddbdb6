//! Tail a Teleport cluster's audit log into your pipeline, resuming exactly where it stopped.

use std::io::Write as _;

use futures::TryStreamExt as _;
use teleport_audit::time::OffsetDateTime;
use teleport_audit::{AuditEvent, Client, ClientConfig, FileCursorStore, StreamConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The three settings: proxy address, identity secret (the file's text), backfill start
    // (an RFC 3339 time, a date, or an age such as "24h"; None: from now, no past records).
    let proxy = "teleport.example.com:443";
    let identity = std::env::var("TELEPORT_IDENTITY")?;
    let backfill_start = Some("2025-12-01")
        .map(|text| teleport_audit::parse_backfill_start(text, OffsetDateTime::now_utc()))
        .transpose()?;

    let client = Client::connect(ClientConfig::from_identity_str(proxy, &identity)?).await?;

    // Where your pipeline keeps its position: a file here (locked against a second process,
    // replaced atomically), or a database row written with the events.
    let store = FileCursorStore::open("teleport-audit.cursor.json")?;
    let config = match (store.load()?, backfill_start) {
        (Some(cursor), _) => StreamConfig::default().resume_from(cursor),
        (None, Some(start)) => StreamConfig::default().backfill_start(start.time()),
        (None, None) => StreamConfig::default(), // from now: no past records
    };

    // Transient failures are retried inside the stream; an error here is fatal (an expired
    // identity, a missing permission): the events of the batch it interrupted were not stored,
    // so the next run reads them again.
    let mut events = client.audit_events(config);
    let mut batches = (&mut events).try_ready_chunks(500);
    while let Some(batch) = batches.try_next().await.map_err(|failed| failed.1)? {
        for event in &batch {
            // The event as Teleport wrote it, plus typed fields and views.
            if let Some(login) = event.user_login()
                && !login.succeeded()
            {
                eprintln!("failed login for {:?}: {:?}", login.user(), login.error());
            }
        }
        send_to_pipeline(&batch)?;
        // Then the position right after the batch: a restart resumes there, so nothing is
        // lost and nothing is sent twice.
        store.save(&batches.get_ref().cursor())?;
    }
    // Before the process exits: close the connection cleanly, so the proxy sees a clean end.
    client.disconnect().await;
    Ok(())
}

/// Your pipeline: here, one JSON object per line on stdout.
fn send_to_pipeline(batch: &[AuditEvent]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for event in batch {
        writeln!(out, "{}", event.as_json())?;
    }
    out.flush()
}
