//! The `hoist` command line.

use clap::{Parser, Subcommand};
use hoist::config::{Config, ServeArgs};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "hoist",
    version,
    about = "Container registry, upstream mirror and web console"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry (defaults: 127.0.0.1:5000, data in ./hoist-data)
    Serve(Box<ServeArgs>),
    /// List every form (variant) a tag has: kind, media type, digest, size, source, transform
    Inspect(hoist::cli::inspect::InspectArgs),
    /// Run mirror rules now on the running server and show their progress
    Sync(hoist::cli::sync::SyncArgs),
    /// Manage users on the running server: add, rm, passwd, list
    User(hoist::cli::user::UserArgs),
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(&args)?;
            tracing_subscriber::fmt()
                .with_env_filter(EnvFilter::try_new(&config.log)?)
                .with_writer(std::io::stderr)
                .init();
            hoist::app::serve(config).await
        }
        Command::Inspect(args) => hoist::cli::inspect::run(args).await,
        Command::Sync(args) => hoist::cli::sync::run(args).await,
        Command::User(args) => hoist::cli::user::run(args).await,
    }
}
