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

/// Every endpoint hoist answers: the registry's, the API's and the console's.
pub fn endpoints() -> Vec<crate::http::endpoints::Endpoint> {
    let mut all = crate::http::endpoints::ENDPOINTS.to_vec();
    all.extend(crate::admin::endpoints());
    all
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&data_dir))
        .await?
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    let store = std::sync::Arc::new(store);
    let registry = Registry::new(std::sync::Arc::clone(&store), config.registry.clone())
        .context("reading the data disk's size and the uploads in progress")?;
    let registry = web::Data::from(registry);
    let edge = web::Data::new(crate::http::Edge::new(
        config.edge.clone(),
        config.public_url.clone(),
    ));

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
    let auth = crate::auth::Auth::new(std::sync::Arc::clone(&store), config.auth.clone())
        .await
        .context("access control")?;
    let admin_password = if auth.enabled() {
        let given = std::env::var("HOIST_ADMIN_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        auth.bootstrap_admin(given)
            .await
            .context("creating the first user")?
    } else {
        None
    };
    if config.auth_off_on_network {
        tracing::warn!(listen = %config.listen, "access control is off (auth.enabled = false) although hoist listens beyond loopback: anyone who reaches it may push and delete");
    }
    let gate = web::Data::new(crate::http::gate::Gate::new(
        std::sync::Arc::clone(&auth),
        config.public_url.clone(),
    ));
    let pruner = actix_web::rt::spawn(prune_audit(std::sync::Arc::clone(&auth), shutdown.clone()));
    // What the console's settings page shows of the configuration.
    let console = web::Data::new(crate::admin::ConsoleInfo::from_config(&config));

    let app_registry = registry.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_registry.clone())
            .app_data(edge.clone())
            .app_data(syncer.clone())
            .app_data(gate.clone())
            .app_data(console.clone())
            .configure(crate::http::configure)
            .configure(crate::admin::configure)
    })
    .shutdown_timeout(SHUTDOWN_GRACE_SECS)
    // Without it, the short last write of a blob waits for the client's delayed ACK (Nagle):
    // a 2 MB blob took 10 ms instead of 0.8 ms (bench/compare.sh, blob GET at 1 connection).
    .tcp_nodelay(true)
    // Our own handlers, registered before the start-up line: actix would install its own
    // only when the server is first polled, so a signal right after the line killed us.
    .disable_signals();
    let tls = match &config.tls {
        Some(files) => Some(
            crate::http::tls::ReloadingCert::load(files.clone())
                .map_err(anyhow::Error::msg)
                .context("loading the TLS certificate")?,
        ),
        None => None,
    };
    let server = match &tls {
        Some(cert) => {
            let tls_config = cert.server_config().map_err(anyhow::Error::msg)?;
            server.bind_rustls_0_23(config.listen, tls_config)
        }
        None => server.bind(config.listen),
    }
    .with_context(|| format!("binding {}", config.listen))?;
    if let Some(cert) = tls.clone() {
        actix_web::rt::spawn(reload_on_sighup(cert));
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let signals = Signals::register()?;
    let addrs = server.addrs();
    let server = server.run();
    actix_web::rt::spawn(stop_on_signal(signals, server.handle()));
    for addr in addrs {
        // Tests and scripts read the bound address (port 0 picks one) from this line.
        println!("hoist listening on {scheme}://{addr}");
    }
    if let Some(password) = admin_password {
        // Shown this once; only its hash is kept.
        println!("hoist created the user admin with password {password} (shown once; change it with hoist user passwd)");
    }
    std::io::stdout().flush()?;
    tracing::info!(data_dir = %config.data_dir.display(), "serving");

    server.await?;
    shutdown.cancel();
    sweeper.await?;
    pruner.await?;
    worker.await?;
    drop((origin, registry, auth));
    close_store(store).await;
    tracing::info!("stopped");
    Ok(())
}

/// How long shutdown waits for the server's worker threads to let go of the store.
const STORE_RELEASE_WAIT: Duration = Duration::from_secs(10);

/// Drop the last handle on the store so redb marks its file closed cleanly. The server's
/// worker threads drop their copies of the app a moment after `server.await` returns; were
/// the process to exit before that, the next start would have to repair the file.
async fn close_store(mut store: std::sync::Arc<Store>) {
    let deadline = tokio::time::Instant::now() + STORE_RELEASE_WAIT;
    loop {
        match std::sync::Arc::try_unwrap(store) {
            Ok(owned) => {
                // Dropping the database flushes and closes the file.
                let _ = tokio::task::spawn_blocking(move || drop(owned)).await;
                return;
            }
            Err(shared) if tokio::time::Instant::now() >= deadline => {
                tracing::warn!(
                    holders = std::sync::Arc::strong_count(&shared) - 1,
                    "the metadata store is still in use at exit; the next start will repair it"
                );
                return;
            }
            Err(shared) => {
                store = shared;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
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

/// How often the audit log is pruned of entries past their retention.
const AUDIT_PRUNE_EVERY: Duration = Duration::from_secs(3600);

async fn prune_audit(auth: std::sync::Arc<crate::auth::Auth>, shutdown: CancellationToken) {
    loop {
        match auth.prune_audit().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "pruned the audit log"),
            Err(e) => tracing::warn!(error = %e, "pruning the audit log failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(AUDIT_PRUNE_EVERY) => {}
        }
    }
}

/// Read the TLS certificate again at each SIGHUP.
async fn reload_on_sighup(cert: std::sync::Arc<crate::http::tls::ReloadingCert>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("no SIGHUP handler: the TLS certificate will not be reloaded");
        return;
    };
    while hangups.recv().await.is_some() {
        match cert.reload() {
            Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: the TLS certificate was not reloaded; the old one stays")
            }
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
