//! `hoist inspect <repo>:<tag>`: every form of a tag, from the server's JSON API.

use clap::Args;
use serde::Deserialize;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// `repository:tag` (tag defaults to latest)
    pub reference: String,
    /// The hoist to ask
    #[arg(long, env = "HOIST_URL", default_value = "http://127.0.0.1:5000")]
    pub registry: String,
    /// Print the JSON answer instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Deserialize)]
struct Answer {
    variants: Vec<Variant>,
}

#[derive(Deserialize)]
struct Variant {
    kind: String,
    media_type: String,
    digest: String,
    size: u64,
    source: Option<String>,
    transform: Option<String>,
    transform_version: Option<u32>,
}

pub async fn run(args: InspectArgs) -> anyhow::Result<()> {
    let (repo, tag) = args
        .reference
        .rsplit_once(':')
        .unwrap_or((&args.reference, "latest"));
    let url = format!(
        "{}/api/v1/repositories/{repo}/tags/{tag}",
        args.registry.trim_end_matches('/')
    );
    let response = reqwest::get(&url).await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        anyhow::bail!("{url}: {status}: {text}");
    }
    if args.json {
        println!("{text}");
        return Ok(());
    }
    let answer: Answer = serde_json::from_str(&text)?;
    println!(
        "{:<16} {:<58} {:<71} {:>8}  {:<14} TRANSFORM",
        "KIND", "MEDIA TYPE", "DIGEST", "SIZE", "SOURCE"
    );
    for v in answer.variants {
        let source = v.source.as_deref().map_or("-".to_owned(), short);
        let transform = match (v.transform, v.transform_version) {
            (Some(t), Some(n)) => format!("{t} v{n}"),
            _ => "-".to_owned(),
        };
        println!(
            "{:<16} {:<58} {:<71} {:>8}  {:<14} {transform}",
            v.kind, v.media_type, v.digest, v.size, source
        );
    }
    Ok(())
}

/// `sha256:0123456789ab` for a column.
fn short(digest: &str) -> String {
    digest.chars().take(19).collect()
}
