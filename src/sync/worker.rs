//! The worker inside the hoist process: starts runs when a rule's `every` comes round or
//! when asked, runs them (a few at once, one per rule), and keeps each run's state in the
//! store, so a run a shutdown or crash stopped is queued again at the next start and picks
//! up where its idempotent steps left off.

use super::progress::Event;
use super::records::{decode, encode, RunRecord, RunState, Summary, Trigger};
use super::rules::{is_due, seconds_until_due};
use super::{now_unix, SyncError, Syncer};
use crate::store::Store;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs at once, across rules.
const PARALLEL_RUNS: usize = 2;
/// Runs kept in the store; older ones (and their events) are pruned.
const RUNS_KEPT: usize = 1000;
/// The longest the scheduler sleeps between looks at the rules.
const SCHEDULER_TICK: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(super) struct WorkerState {
    queue: Mutex<Option<tokio::sync::mpsc::UnboundedSender<u64>>>,
    /// Rules with a run queued or running: a rule never runs twice at once.
    busy: Mutex<HashSet<String>>,
    /// When each rule's newest run was created (for `every`).
    last_started: Mutex<HashMap<String, u64>>,
    /// Wakes the scheduler early (a rule was added or changed).
    wake: tokio::sync::Notify,
}

impl Syncer {
    /// Start the worker: queue runs left unfinished by the last process, then schedule and
    /// execute runs until `shutdown`. Returns when it has stopped.
    pub async fn run_worker(self: Arc<Self>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        *self.worker.queue.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        if let Err(e) = self.resume_unfinished().await {
            tracing::error!(error = %e, "resuming unfinished sync runs failed");
        }
        let scheduler = tokio::spawn(Arc::clone(&self).schedule());
        let slots = Arc::new(tokio::sync::Semaphore::new(PARALLEL_RUNS));
        let mut running = tokio::task::JoinSet::new();
        loop {
            let id = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                id = rx.recv() => match id { Some(id) => id, None => break },
            };
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let this = Arc::clone(&self);
            running.spawn(async move {
                this.execute_run(id).await;
                drop(slot);
            });
            while running.try_join_next().is_some() {}
        }
        // Runs see the shutdown and stop at their next step; wait for them to record it.
        while running.join_next().await.is_some() {}
        let _ = scheduler.await;
        tracing::info!("sync worker stopped");
    }

    /// Queue a run of each rule (every rule when `rules` is empty). Rules already queued or
    /// running are not queued again; their current run's id is returned instead.
    pub async fn request_runs(
        &self,
        rules: &[String],
        trigger: Trigger,
    ) -> Result<Vec<u64>, SyncError> {
        let snap = self.directory.snapshot();
        let names: Vec<String> = if rules.is_empty() {
            snap.mirrors
                .iter()
                .map(|m| m.settings.name.clone())
                .collect()
        } else {
            rules.to_vec()
        };
        for name in &names {
            if snap.mirror(name).is_none() {
                return Err(SyncError::NotFound(format!(
                    "mirror rule {name:?} is not defined"
                )));
            }
        }
        let mut ids = Vec::new();
        for name in names {
            ids.push(self.queue_run(&name, trigger).await?);
        }
        Ok(ids)
    }

    async fn queue_run(&self, rule: &str, trigger: Trigger) -> Result<u64, SyncError> {
        if self.is_busy(rule) {
            if let Some(id) = self.current_run(rule).await? {
                return Ok(id);
            }
        }
        let record = RunRecord {
            id: 0,
            rule: rule.to_owned(),
            trigger,
            state: RunState::Queued,
            created_at: now_unix(),
            started_at: None,
            finished_at: None,
            resumed: 0,
            summary: Summary::default(),
            error: None,
        };
        let bytes = encode(&record)?;
        let id = Store::call(&self.store, move |s| s.meta.create_run(&bytes)).await?;
        self.worker
            .last_started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rule.to_owned(), record.created_at);
        self.enqueue(id, rule);
        self.report(Event::Run {
            run: id,
            rule: rule.to_owned(),
            state: RunState::Queued,
            summary: Summary::default(),
            error: None,
        })
        .await;
        Ok(id)
    }

    fn is_busy(&self, rule: &str) -> bool {
        self.worker
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(rule)
    }

    fn enqueue(&self, id: u64, rule: &str) {
        self.worker
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rule.to_owned());
        if let Some(tx) = self
            .worker
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = tx.send(id);
        }
    }

    /// The newest unfinished run of `rule`.
    async fn current_run(&self, rule: &str) -> Result<Option<u64>, SyncError> {
        let runs = self.runs(None, 200).await?;
        Ok(runs
            .into_iter()
            .find(|r| r.rule == rule && !r.state.finished())
            .map(|r| r.id))
    }

    /// Runs newest first, below `before`, at most `n`.
    pub async fn runs(&self, before: Option<u64>, n: usize) -> Result<Vec<RunRecord>, SyncError> {
        let raw = Store::call(&self.store, move |s| s.meta.runs(before, n)).await?;
        raw.into_iter()
            .map(|(id, bytes)| {
                let mut r: RunRecord = decode("run", &bytes)?;
                r.id = id;
                Ok(r)
            })
            .collect()
    }

    pub async fn run_record(&self, id: u64) -> Result<RunRecord, SyncError> {
        let bytes = Store::call(&self.store, move |s| s.meta.run(id))
            .await?
            .ok_or_else(|| SyncError::NotFound(format!("run {id}")))?;
        let mut r: RunRecord = decode("run", &bytes)?;
        r.id = id;
        Ok(r)
    }

    async fn save_run(&self, record: &RunRecord) -> Result<(), SyncError> {
        let (id, bytes) = (record.id, encode(record)?);
        Store::call(&self.store, move |s| s.meta.put_run(id, &bytes)).await?;
        Ok(())
    }

    /// Queue again every run a shutdown or crash left unfinished, oldest first.
    async fn resume_unfinished(&self) -> Result<(), SyncError> {
        let mut runs = self.runs(None, RUNS_KEPT).await?;
        {
            let mut last = self
                .worker
                .last_started
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for r in &runs {
                last.entry(r.rule.clone()).or_insert(r.created_at);
            }
        }
        runs.reverse();
        for r in runs.into_iter().filter(|r| !r.state.finished()) {
            if self.directory.snapshot().mirror(&r.rule).is_none() || self.is_busy(&r.rule) {
                let mut gone = r.clone();
                gone.state = RunState::Failed;
                gone.finished_at = Some(now_unix());
                gone.error = Some("the rule is gone, or another run of it was resumed".into());
                self.save_run(&gone).await?;
                continue;
            }
            tracing::info!(run = r.id, rule = %r.rule, "resuming a sync run");
            self.enqueue(r.id, &r.rule);
        }
        Ok(())
    }

    /// Start runs of rules whose `every` has come round.
    async fn schedule(self: Arc<Self>) {
        loop {
            let now = now_unix();
            let mut sleep = SCHEDULER_TICK;
            for m in &self.directory.snapshot().mirrors {
                let Some(every) = m.rule.every else {
                    continue;
                };
                let last = self
                    .worker
                    .last_started
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&m.rule.name)
                    .copied();
                if is_due(every, last, now) && !self.is_busy(&m.rule.name) {
                    if let Err(e) = self.queue_run(&m.rule.name, Trigger::Schedule).await {
                        tracing::error!(rule = %m.rule.name, error = %e, "scheduling a sync run failed");
                    }
                } else {
                    let wait = Duration::from_secs(seconds_until_due(every, last, now).max(1));
                    sleep = sleep.min(wait);
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = self.worker.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Look at the schedule again now (a rule was added or changed).
    pub(super) fn wake_scheduler(&self) {
        self.worker.wake.notify_one();
    }

    /// Execute one queued run and record how it ended.
    async fn execute_run(&self, id: u64) {
        let mut record = match self.run_record(id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(run = id, error = %e, "a queued run cannot be read");
                return;
            }
        };
        let rule = record.rule.clone();
        if record.started_at.is_some() {
            record.resumed += 1;
        }
        record.state = RunState::Running;
        record.started_at = Some(now_unix());
        if let Err(e) = self.save_run(&record).await {
            tracing::error!(run = id, error = %e, "recording a run's start failed");
        }
        self.report(Event::Run {
            run: id,
            rule: rule.clone(),
            state: RunState::Running,
            summary: record.summary.clone(),
            error: None,
        })
        .await;
        tracing::info!(run = id, rule = %rule, "sync run started");
        let outcome = tokio::select! {
            _ = self.shutdown.cancelled() => Err(SyncError::Stopped),
            outcome = self.execute(id, &rule) => outcome,
        };
        match outcome {
            Err(SyncError::Stopped) => {
                // Left running: the next start queues it again.
                tracing::info!(run = id, rule = %rule, "sync run stopped for shutdown");
                return;
            }
            Ok(outcome) => {
                record.summary = outcome.summary;
                if outcome.failures.is_empty() {
                    record.state = RunState::Succeeded;
                    record.error = None;
                } else {
                    record.state = RunState::Failed;
                    record.error = Some(outcome.failures.join("; "));
                }
            }
            Err(e) => {
                record.state = RunState::Failed;
                record.error = Some(e.to_string());
            }
        }
        record.finished_at = Some(now_unix());
        tracing::info!(run = id, rule = %rule, state = ?record.state, summary = ?record.summary, error = ?record.error, "sync run finished");
        if let Err(e) = self.save_run(&record).await {
            tracing::error!(run = id, error = %e, "recording a run's end failed");
        }
        self.worker
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&rule);
        self.report(Event::Run {
            run: id,
            rule,
            state: record.state,
            summary: record.summary.clone(),
            error: record.error.clone(),
        })
        .await;
        let pruned = Store::call(&self.store, |s| s.meta.prune_runs(RUNS_KEPT)).await;
        if let Err(e) = pruned {
            tracing::warn!(error = %e, "pruning old sync runs failed");
        }
    }
}
