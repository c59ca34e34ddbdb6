//! `teleport-audit ping`: connect through the real path and print what the Auth Service says.

use std::io::Write as _;

use teleport_audit::{Client, ClientConfig, ConnectionUpgrade, Error, SettingError};

use crate::args::{ConnectArgs, UpgradeArg};

/// Builds the client configuration from the command line.
pub(crate) fn client_config(args: &ConnectArgs) -> Result<ClientConfig, Error> {
    let mut config = match &args.identity_file {
        // Re-read on reconnect when it changed: tbot renews it in place.
        Some(path) => ClientConfig::default().identity_file(path),
        None => ClientConfig::default().identity(crate::identity_cmd::load(None)?),
    };
    config = config
        .connect_timeout(args.timeout)
        .request_timeout(args.timeout)
        .connection_upgrade(match args.connection_upgrade {
            UpgradeArg::Auto => ConnectionUpgrade::Auto,
            UpgradeArg::Always => ConnectionUpgrade::Always,
            UpgradeArg::Never => ConnectionUpgrade::Never,
        });
    config = match (&args.proxy, &args.auth) {
        (_, Some(auth)) => config.auth_addr(auth.clone()),
        (Some(proxy), None) => config.proxy_addr(proxy.clone()),
        (None, None) => config,
    };
    if let Some(path) = &args.proxy_ca {
        let pem = std::fs::read_to_string(path).map_err(|e| {
            Error::Setting(SettingError::ProxyCa {
                reason: format!(
                    "cannot read {}",
                    teleport_audit::identity::secret_text::shown_path(path).display()
                ),
                source: Some(std::sync::Arc::new(e)),
            })
        })?;
        config = config.proxy_ca_pem(pem);
    }
    Ok(config)
}

pub(crate) async fn run(args: ConnectArgs) -> Result<(), Error> {
    let client = Client::connect(client_config(&args)?).await?;
    let info = client.ping().await?;
    let line = serde_json::json!({
        "cluster_name": info.cluster_name,
        "server_version": info.server_version,
        "proxy_public_addr": info.proxy_public_addr,
    });
    let _ = writeln!(std::io::stdout().lock(), "{line}");
    client.disconnect().await;
    Ok(())
}
