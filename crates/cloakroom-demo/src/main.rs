//! The cloakroom demo service: reads its configuration from the environment (see
//! `docs/DEMO.md`) and serves on 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use cloakroom_demo::{DemoConfig, Drained, app, serve};

/// Exit status for a configuration error.
const CONFIG_ERROR: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    cloakroom_demo::init_logging();

    let config = match DemoConfig::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("cloakroom-demo: {err}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    if config.secret_generated {
        tracing::warn!(
            "SESSION_SECRET is not set: using a random secret, so sessions will not survive a restart \
             (set SESSION_SECRET to at least 32 random bytes)"
        );
    }
    if !config.production {
        tracing::info!("APP_ENV is not production: session cookies are sent without Secure, for plain http");
    }
    let config = match config.connect_store().await {
        Ok(config) => config,
        Err(err) => {
            eprintln!("cloakroom-demo: {err}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    tracing::info!(store = ?config.store, "session store ready");
    let (port, options) = (config.port, config.serve);
    let (router, _manager) = match app(config) {
        Ok(app) => app,
        Err(err) => {
            eprintln!("cloakroom-demo: {err}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };

    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("cloakroom-demo: cannot listen on {address}: {err}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(bound) => tracing::info!("listening on http://{bound}"),
        Err(_) => tracing::info!("listening on http://{address}"),
    }
    match serve(listener, router, options, shutdown()).await {
        Ok(Drained::All) => tracing::info!("stopped"),
        Ok(Drained::TimedOut) => tracing::warn!(
            grace = ?options.shutdown_grace,
            "stopped with requests still open after the grace period (SHUTDOWN_TIMEOUT)"
        ),
        Err(err) => {
            eprintln!("cloakroom-demo: server error: {err}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
