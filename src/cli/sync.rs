//! `hoist sync [RULE…]`: ask the running server to run mirror rules now, show a progress
//! bar per blob while they run (plain lines when the output is not a terminal), then a
//! summary. Exits non-zero when a run fails.

use crate::sync::{Event, RunRecord, RunState, TagOutcome};
use anyhow::Context;
use clap::Args;
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Mirror rules to run (every rule when none is named)
    pub rules: Vec<String>,
    /// The hoist to ask
    #[arg(long, env = "HOIST_URL", default_value = "http://127.0.0.1:5000")]
    pub registry: String,
}

pub async fn run(args: SyncArgs) -> anyhow::Result<()> {
    let base = args.registry.trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    // Listen before starting, so no event of the new runs is missed.
    let events = client
        .get(format!("{base}/api/v1/sync/events"))
        .send()
        .await
        .with_context(|| format!("connecting to {base}"))?;
    anyhow::ensure!(
        events.status().is_success(),
        "{base}/api/v1/sync/events: {}",
        events.status()
    );
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/v1/sync/runs"))
        .json(&serde_json::json!({ "rules": args.rules }))
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = body["errors"][0]["message"].as_str().unwrap_or("");
        anyhow::bail!("starting the runs: {status}: {message}");
    }
    let ids: HashSet<u64> = body["runs"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        println!("no mirror rules to run");
        return Ok(());
    }
    let mut view = View::new();
    let mut pending = ids.clone();
    // Runs may have finished between the request and the subscription taking effect.
    for id in &ids {
        if fetch_run(&client, &base, *id).await?.state.finished() {
            pending.remove(id);
        }
    }
    let mut stream = events.bytes_stream();
    let mut buffer = String::new();
    while !pending.is_empty() {
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.next()).await;
        let chunk = match chunk {
            Ok(Some(c)) => c?,
            Ok(None) => anyhow::bail!("the server closed the event stream"),
            Err(_) => {
                // Quiet for a while: make sure nothing ended unseen.
                for id in pending.clone() {
                    if fetch_run(&client, &base, id).await?.state.finished() {
                        pending.remove(&id);
                    }
                }
                continue;
            }
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let Ok(event) = serde_json::from_str::<Event>(data) else {
                continue;
            };
            if !ids.contains(&event.run()) {
                continue;
            }
            if let Event::Run { run, state, .. } = &event {
                if state.finished() {
                    pending.remove(run);
                }
            }
            view.show(&event);
        }
    }
    view.done();
    let mut failed = false;
    let mut ids: Vec<u64> = ids.into_iter().collect();
    ids.sort_unstable();
    for id in ids {
        let run = fetch_run(&client, &base, id).await?;
        let s = &run.summary;
        println!(
            "run {id} ({}): {:?}; tags {} new, {} updated, {} unchanged, {} failed, {} removed; \
             {} blobs, {}",
            run.rule,
            run.state,
            s.tags_new,
            s.tags_updated,
            s.tags_unchanged,
            s.tags_failed,
            s.tags_removed,
            s.blobs_fetched,
            bytesize::ByteSize(s.bytes_fetched)
        );
        if let Some(e) = &run.error {
            println!("  error: {e}");
        }
        failed |= run.state == RunState::Failed;
    }
    println!("{:.1} s", started.elapsed().as_secs_f64());
    anyhow::ensure!(!failed, "a sync run failed");
    Ok(())
}

async fn fetch_run(client: &reqwest::Client, base: &str, id: u64) -> anyhow::Result<RunRecord> {
    let answer: serde_json::Value = client
        .get(format!("{base}/api/v1/sync/runs/{id}"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(serde_json::from_value(answer["run"].clone())?)
}

/// Progress bars per blob on a terminal; plain lines otherwise.
struct View {
    bars: MultiProgress,
    blobs: HashMap<String, ProgressBar>,
    terminal: bool,
}

impl View {
    fn new() -> View {
        let terminal = std::io::stderr().is_terminal();
        let target = if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        View {
            bars: MultiProgress::with_draw_target(target),
            blobs: HashMap::new(),
            terminal,
        }
    }

    fn line(&self, text: String) {
        if self.terminal {
            let _ = self.bars.println(text);
        } else {
            println!("{text}");
        }
    }

    fn show(&mut self, event: &Event) {
        match event {
            Event::Blob {
                digest,
                done,
                total,
                finished,
                repository,
                ..
            } => {
                let short = digest.get(..19).unwrap_or(digest).to_owned();
                if *finished {
                    if let Some(bar) = self.blobs.remove(digest) {
                        bar.finish_and_clear();
                    }
                    self.line(format!(
                        "  fetched {repository}@{short} ({})",
                        bytesize::ByteSize(*done)
                    ));
                    return;
                }
                let bar = self.blobs.entry(digest.clone()).or_insert_with(|| {
                    let bar = self.bars.add(ProgressBar::new(total.unwrap_or(0)));
                    let style = ProgressStyle::with_template(
                        "  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style.progress_chars("=> "));
                    bar.set_message(short.clone());
                    bar
                });
                if let Some(t) = total {
                    bar.set_length(*t);
                }
                bar.set_position(*done);
            }
            Event::Tag {
                repository,
                tag,
                outcome,
                error,
                ..
            } => {
                let word = match outcome {
                    TagOutcome::New => "new",
                    TagOutcome::Updated => "updated",
                    TagOutcome::Unchanged => "unchanged",
                    TagOutcome::Failed => "FAILED",
                    TagOutcome::Removed => "removed",
                };
                let why = error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                self.line(format!("{repository}:{tag} {word}{why}"));
            }
            Event::Run {
                run, rule, state, ..
            } => self.line(format!("run {run} ({rule}) {state:?}")),
            Event::Note { text, .. } => self.line(format!("  note: {text}")),
        }
    }

    fn done(&mut self) {
        for (_, bar) in self.blobs.drain() {
            bar.finish_and_clear();
        }
    }
}
