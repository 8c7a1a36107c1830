//! Progress a person can watch: every run reports events on a broadcast channel (the JSON
//! API streams them as server-sent events; `hoist sync` draws them) and keeps the ones
//! worth reading later (not every byte count) with the run in the store.

use super::records::{encode, RunState, Summary};
use super::Syncer;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Events kept in memory for subscribers that fall behind.
const CHANNEL: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagOutcome {
    New,
    Updated,
    Unchanged,
    Failed,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A run changed state (queued, running, finished).
    Run {
        run: u64,
        rule: String,
        state: RunState,
        summary: Summary,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A tag was synced, or failed.
    Tag {
        run: u64,
        repository: String,
        tag: String,
        outcome: TagOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Bytes of a blob fetched so far (`finished` once it is stored).
    Blob {
        run: u64,
        repository: String,
        digest: String,
        done: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
        finished: bool,
    },
    /// Something a person should read (a retry, a skipped step).
    Note { run: u64, text: String },
}

impl Event {
    pub fn run(&self) -> u64 {
        match self {
            Event::Run { run, .. }
            | Event::Tag { run, .. }
            | Event::Blob { run, .. }
            | Event::Note { run, .. } => *run,
        }
    }

    /// Whether the event is kept with its run (byte counts in between are not).
    fn kept(&self) -> bool {
        !matches!(
            self,
            Event::Blob {
                finished: false,
                ..
            }
        )
    }
}

pub(super) struct Progress {
    tx: tokio::sync::broadcast::Sender<Event>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            tx: tokio::sync::broadcast::channel(CHANNEL).0,
        }
    }
}

impl Syncer {
    /// Live events of every run, from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.progress.tx.subscribe()
    }

    /// Tell subscribers, and keep the event with its run if it is worth keeping.
    pub(super) async fn report(&self, event: Event) {
        self.live.observe(&event);
        let _ = self.progress.tx.send(event.clone());
        if !event.kept() {
            return;
        }
        let stored = match encode(&event) {
            Ok(bytes) => {
                let run = event.run();
                Store::call(&self.store, move |s| s.meta.append_event(run, &bytes))
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "keeping a sync event failed");
        }
    }

    /// The kept events of run `run` after sequence `after`, oldest first.
    pub async fn run_events(
        &self,
        run: u64,
        after: u64,
        n: usize,
    ) -> Result<Vec<(u64, Event)>, super::SyncError> {
        let raw = Store::call(&self.store, move |s| s.meta.events(run, after, n)).await?;
        raw.into_iter()
            .map(|(seq, bytes)| Ok((seq, super::records::decode("event", &bytes)?)))
            .collect()
    }
}

/// Shared by the run's parallel blob fetches.
pub(super) type SharedSummary = Arc<std::sync::Mutex<Summary>>;
