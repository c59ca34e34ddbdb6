//! Listing a date's export chunks (`GetEventExportChunks`).

use std::time::Duration;

use teleport_audit_proto::auditlog::v1::GetEventExportChunksRequest;
use teleport_audit_proto::auditlog::v1::audit_log_service_client::AuditLogServiceClient;
use time::Date;
use tonic::transport::Channel;

use crate::error::{Error, ServerError};
use crate::rpc;
use crate::rpc_name::Rpc;
use crate::stream::page::timestamp;

/// The wire form of a UTC date: its midnight (Teleport reads the timestamp's UTC date).
pub(super) fn date_timestamp(date: Date) -> prost_types::Timestamp {
    timestamp(date.midnight().assume_utc())
}

/// The names of the chunks of `date` that exist now (unordered), within `timeout`.
pub(crate) async fn list_chunks(
    channel: Channel,
    date: Date,
    timeout: Duration,
) -> Result<Vec<String>, Error> {
    let mut client = AuditLogServiceClient::new(channel);
    let request = GetEventExportChunksRequest {
        date: Some(date_timestamp(date)),
    };
    let call = async {
        let mut stream = client
            .get_event_export_chunks(request)
            .await
            .map_err(|status| rpc::status_to_error(Rpc::GetEventExportChunks, status))?
            .into_inner();
        let mut names = Vec::new();
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|status| rpc::status_to_error(Rpc::GetEventExportChunks, status))?
        {
            if !chunk.chunk.is_empty() {
                names.push(chunk.chunk);
            }
        }
        Ok(names)
    };
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(Error::Server(ServerError::Timeout {
            rpc: Rpc::GetEventExportChunks,
            after: timeout,
        })),
        Ok(result) => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_date_is_sent_as_its_utc_midnight() {
        let ts = date_timestamp(date!(2025 - 12 - 02));
        assert_eq!(ts.seconds, 1_764_633_600);
        assert_eq!(ts.nanos, 0);
    }
}
