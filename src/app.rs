//! Wiring: open the store, build the registry, start the background workers and the HTTP
//! server, and shut everything down together on SIGINT/SIGTERM.

use crate::config::Config;
use crate::registry::Registry;
use crate::store::Store;
use crate::sync::Syncer;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use std::io::Write;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often abandoned uploads are looked for.
const UPLOAD_SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE_SECS: u64 = 30;

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&data_dir))
        .await?
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    let store = std::sync::Arc::new(store);
    let registry = Registry::new(std::sync::Arc::clone(&store), config.registry.clone())
        .context("reading the data disk's size and the uploads in progress")?;
    let registry = web::Data::from(registry);
    let edge = web::Data::new(crate::http::Edge::new(config.edge.clone()));

    let shutdown = CancellationToken::new();
    let sweeper = actix_web::rt::spawn(sweep_uploads(registry.clone(), shutdown.clone()));
    let syncer = Syncer::new(
        std::sync::Arc::clone(&store),
        registry.clone().into_inner(),
        config.sync.clone(),
        shutdown.clone(),
    )
    .await
    .context("the [[upstreams]], [[mirrors]] and [[proxies]] settings")?;
    let origin: std::sync::Arc<dyn crate::registry::Origin> = syncer.clone();
    registry.set_origin(std::sync::Arc::downgrade(&origin));
    let worker = tokio::spawn(std::sync::Arc::clone(&syncer).run_worker());
    let syncer = web::Data::from(syncer);

    let app_registry = registry.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_registry.clone())
            .app_data(edge.clone())
            .app_data(syncer.clone())
            .configure(crate::http::configure)
    })
    .shutdown_timeout(SHUTDOWN_GRACE_SECS)
    // Without it, the short last write of a blob waits for the client's delayed ACK (Nagle):
    // a 2 MB blob took 10 ms instead of 0.8 ms (bench/compare.sh, blob GET at 1 connection).
    .tcp_nodelay(true)
    // Our own handlers, registered before the start-up line: actix would install its own
    // only when the server is first polled, so a signal right after the line killed us.
    .disable_signals()
    .bind(config.listen)
    .with_context(|| format!("binding {}", config.listen))?;
    let signals = Signals::register()?;
    let addrs = server.addrs();
    let server = server.run();
    actix_web::rt::spawn(stop_on_signal(signals, server.handle()));
    for addr in addrs {
        // Tests and scripts read the bound address (port 0 picks one) from this line.
        println!("hoist listening on http://{addr}");
    }
    std::io::stdout().flush()?;
    tracing::info!(data_dir = %config.data_dir.display(), "serving");

    server.await?;
    shutdown.cancel();
    sweeper.await?;
    worker.await?;
    drop(origin);
    tracing::info!("stopped");
    Ok(())
}

async fn sweep_uploads(registry: web::Data<Registry>, shutdown: CancellationToken) {
    loop {
        match registry.expire_uploads().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired abandoned uploads"),
            Err(e) => tracing::warn!(error = %e, "expiring uploads failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(UPLOAD_SWEEP_EVERY) => {}
        }
    }
}

/// SIGINT and SIGTERM, listened for from the moment they are registered.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }
}

/// On the first signal, stop accepting connections and let in-flight requests finish.
async fn stop_on_signal(mut signals: Signals, server: actix_web::dev::ServerHandle) {
    tokio::select! {
        _ = signals.interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        _ = signals.terminate.recv() => tracing::info!("SIGTERM: shutting down"),
    }
    server.stop(true).await;
}
