//! What the sync is doing now, for the console: runs in progress with live figures (tags
//! done, bytes fetched, each blob in flight), fed by the same events subscribers get, and
//! what needs attention (recent failed runs, upstreams whose last run failed).

use super::progress::{Event, TagOutcome};
use super::records::{RunRecord, RunState};
use super::{SyncError, Syncer};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Newest runs looked at for failures and upstream status.
const RECENT_RUNS: usize = 200;
/// Failed runs an [`Activity`] lists, newest first.
const RECENT_FAILURES: usize = 5;

/// A run in progress, as its events so far tell.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LiveRun {
    pub run: u64,
    pub rule: String,
    /// Queued or running.
    pub state: Option<RunState>,
    /// Tags brought over or found unchanged, failed ones included.
    pub tags_done: u64,
    pub tags_failed: u64,
    /// Tags the run will look at; runs do not announce it, so `None` today.
    pub tags_total: Option<u64>,
    /// Bytes of blobs fetched: finished ones and those in flight.
    pub bytes_done: u64,
    pub blobs_done: u64,
    /// Blobs being fetched now, in the order they started.
    pub blobs: Vec<LiveBlob>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveBlob {
    pub repository: String,
    pub digest: String,
    pub done: u64,
    pub total: Option<u64>,
}

/// An upstream and how the newest finished run of a rule using it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamStatus {
    pub upstream: String,
    /// `None` when no rule of it has run yet.
    pub last_run: Option<u64>,
    pub ok: Option<bool>,
    pub finished_at: Option<u64>,
    pub error: Option<String>,
}

/// Runs in progress and what needs attention.
#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    pub running: Vec<LiveRun>,
    /// Failed runs among the newest, newest first.
    pub recent_failures: Vec<RunRecord>,
    /// Every upstream with the outcome of its newest finished run.
    pub upstreams: Vec<UpstreamStatus>,
}

/// Live figures of the runs in progress, keyed by run id.
#[derive(Default)]
pub(super) struct Live {
    runs: Mutex<BTreeMap<u64, Tracked>>,
}

#[derive(Default)]
struct Tracked {
    view: LiveRun,
    /// Bytes of finished blobs.
    finished_bytes: u64,
    /// In-flight blobs by (repository, digest), with the order they started in.
    blobs: HashMap<(String, String), (u64, LiveBlob)>,
    next: u64,
}

impl Live {
    /// Fold one event into the figures.
    pub(super) fn observe(&self, event: &Event) {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Run {
                run, rule, state, ..
            } => {
                if state.finished() {
                    runs.remove(run);
                } else {
                    let t = runs.entry(*run).or_default();
                    t.view.run = *run;
                    t.view.rule = rule.clone();
                    t.view.state = Some(*state);
                }
            }
            Event::Tag { run, outcome, .. } => {
                let Some(t) = runs.get_mut(run) else { return };
                if *outcome != TagOutcome::Removed {
                    t.view.tags_done += 1;
                }
                if *outcome == TagOutcome::Failed {
                    t.view.tags_failed += 1;
                }
            }
            Event::Blob {
                run,
                repository,
                digest,
                done,
                total,
                finished,
            } => {
                let Some(t) = runs.get_mut(run) else { return };
                let key = (repository.clone(), digest.clone());
                if *finished {
                    t.blobs.remove(&key);
                    t.finished_bytes += done;
                    t.view.blobs_done += 1;
                } else {
                    let order = t.next;
                    let entry = t.blobs.entry(key).or_insert_with(|| {
                        (
                            order,
                            LiveBlob {
                                repository: repository.clone(),
                                digest: digest.clone(),
                                done: 0,
                                total: None,
                            },
                        )
                    });
                    entry.1.done = *done;
                    entry.1.total = total.or(entry.1.total);
                    t.next += 1;
                }
            }
            Event::Note { .. } => {}
        }
    }

    /// The runs in progress, oldest first.
    pub(super) fn snapshot(&self) -> Vec<LiveRun> {
        let runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        runs.values()
            .map(|t| {
                let mut blobs: Vec<&(u64, LiveBlob)> = t.blobs.values().collect();
                blobs.sort_by_key(|(order, _)| *order);
                let mut view = t.view.clone();
                view.blobs = blobs.into_iter().map(|(_, b)| b.clone()).collect();
                view.bytes_done = t.finished_bytes + view.blobs.iter().map(|b| b.done).sum::<u64>();
                view
            })
            .collect()
    }
}

impl Syncer {
    /// Runs in progress with live figures, recent failed runs, and each upstream's status.
    pub async fn activity(&self) -> Result<Activity, SyncError> {
        let runs = self.runs(None, RECENT_RUNS).await?;
        let recent_failures = runs
            .iter()
            .filter(|r| r.state == RunState::Failed)
            .take(RECENT_FAILURES)
            .cloned()
            .collect();
        Ok(Activity {
            running: self.live_runs(),
            recent_failures,
            upstreams: self.upstream_statuses(&runs),
        })
    }

    /// The runs in progress, oldest first.
    pub fn live_runs(&self) -> Vec<LiveRun> {
        self.live.snapshot()
    }

    /// The live figures of run `run`, while it is queued or running.
    pub fn live_run(&self, run: u64) -> Option<LiveRun> {
        self.live.snapshot().into_iter().find(|r| r.run == run)
    }

    /// Each upstream in force with the outcome of the newest finished run (among `runs`,
    /// newest first) of a rule that now uses it.
    pub fn upstream_statuses(&self, runs: &[RunRecord]) -> Vec<UpstreamStatus> {
        let snap = self.directory.snapshot();
        let upstream_of: HashMap<&str, &str> = snap
            .mirrors
            .iter()
            .map(|m| (m.settings.name.as_str(), m.rule.upstream.as_str()))
            .collect();
        snap.upstreams
            .iter()
            .map(|u| {
                let name = u.settings.name.as_str();
                let last = runs.iter().find(|r| {
                    r.state.finished() && upstream_of.get(r.rule.as_str()) == Some(&name)
                });
                UpstreamStatus {
                    upstream: name.to_owned(),
                    last_run: last.map(|r| r.id),
                    ok: last.map(|r| r.state == RunState::Succeeded),
                    finished_at: last.and_then(|r| r.finished_at),
                    error: last.and_then(|r| r.error.clone()),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Summary;

    fn run_event(run: u64, state: RunState) -> Event {
        Event::Run {
            run,
            rule: "app".into(),
            state,
            summary: Summary::default(),
            error: None,
        }
    }

    fn blob(run: u64, digest: &str, done: u64, total: Option<u64>, finished: bool) -> Event {
        Event::Blob {
            run,
            repository: "mirror/app".into(),
            digest: digest.into(),
            done,
            total,
            finished,
        }
    }

    #[test]
    fn live_figures_follow_a_runs_events_and_end_with_it() {
        let live = Live::default();
        live.observe(&run_event(7, RunState::Queued));
        live.observe(&run_event(7, RunState::Running));
        live.observe(&blob(7, "sha256:a", 100, Some(1000), false));
        live.observe(&blob(7, "sha256:b", 50, None, false));
        live.observe(&blob(7, "sha256:a", 600, None, false));
        // Events of a run not being tracked are ignored.
        live.observe(&blob(8, "sha256:c", 5, None, false));
        let now = live.snapshot();
        assert_eq!(now.len(), 1);
        let r = &now[0];
        assert_eq!((r.run, r.state), (7, Some(RunState::Running)));
        assert_eq!(r.blobs.len(), 2);
        assert_eq!(r.blobs[0].digest, "sha256:a");
        assert_eq!((r.blobs[0].done, r.blobs[0].total), (600, Some(1000)));
        assert_eq!(r.bytes_done, 650);

        live.observe(&blob(7, "sha256:a", 1000, None, true));
        live.observe(&Event::Tag {
            run: 7,
            repository: "mirror/app".into(),
            tag: "1.0".into(),
            outcome: TagOutcome::New,
            digest: None,
            error: None,
        });
        live.observe(&Event::Tag {
            run: 7,
            repository: "mirror/app".into(),
            tag: "1.1".into(),
            outcome: TagOutcome::Failed,
            digest: None,
            error: Some("x".into()),
        });
        let r = &live.snapshot()[0];
        assert_eq!(r.blobs.len(), 1);
        assert_eq!((r.blobs_done, r.bytes_done), (1, 1050));
        assert_eq!((r.tags_done, r.tags_failed), (2, 1));

        live.observe(&run_event(7, RunState::Succeeded));
        assert!(live.snapshot().is_empty());
    }
}
