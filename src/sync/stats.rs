//! Figures over the runs the store keeps, for the console's pictures: finished runs per
//! day (succeeded and failed) and bytes fetched per upstream.

use super::records::{RunRecord, RunState};
use super::{SyncError, Syncer};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Runs the figures look at (the store keeps about as many).
const RUNS_READ: usize = 1000;

/// Finished runs of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayRuns {
    /// Days since 1970-01-01.
    pub day: u64,
    pub succeeded: u64,
    pub failed: u64,
}

/// Bytes the kept runs fetched from one upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamBytes {
    pub upstream: String,
    pub bytes: u64,
    pub runs: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunStats {
    /// The last `days` days, oldest first, days without runs included.
    pub per_day: Vec<DayRuns>,
    /// Largest first; runs of rules that are gone count under `(deleted rule)`.
    pub per_upstream: Vec<UpstreamBytes>,
}

/// The label of bytes whose rule no longer exists.
pub const GONE_RULE: &str = "(deleted rule)";

impl Syncer {
    /// Figures over the kept runs: per day for the `days` days up to `now` (unix seconds),
    /// and per upstream.
    pub async fn run_stats(&self, days: u64, now: u64) -> Result<RunStats, SyncError> {
        let runs = self.runs(None, RUNS_READ).await?;
        let snap = self.directory.snapshot();
        let upstream_of: HashMap<String, String> = snap
            .mirrors
            .iter()
            .map(|m| (m.settings.name.clone(), m.rule.upstream.clone()))
            .collect();
        Ok(RunStats {
            per_day: runs_per_day(&runs, days, now),
            per_upstream: bytes_per_upstream(&runs, &upstream_of),
        })
    }
}

/// Finished runs per UTC day (by when they finished) over the `days` days up to `now`.
pub fn runs_per_day(runs: &[RunRecord], days: u64, now: u64) -> Vec<DayRuns> {
    let today = now / 86_400;
    let first = (today + 1).saturating_sub(days);
    let mut out: Vec<DayRuns> = (first..=today)
        .map(|day| DayRuns {
            day,
            succeeded: 0,
            failed: 0,
        })
        .collect();
    for r in runs {
        let Some(at) = r.finished_at.filter(|_| r.state.finished()) else {
            continue;
        };
        let day = at / 86_400;
        if day < first || day > today {
            continue;
        }
        let slot = &mut out[(day - first) as usize];
        if r.state == RunState::Succeeded {
            slot.succeeded += 1;
        } else {
            slot.failed += 1;
        }
    }
    out
}

/// Bytes fetched per upstream, largest first (ties by name).
pub fn bytes_per_upstream(
    runs: &[RunRecord],
    upstream_of: &HashMap<String, String>,
) -> Vec<UpstreamBytes> {
    let mut sums: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for r in runs {
        let name = upstream_of.get(&r.rule).map_or(GONE_RULE, String::as_str);
        let slot = sums.entry(name).or_default();
        slot.0 += r.summary.bytes_fetched;
        slot.1 += 1;
    }
    // Every upstream a rule uses appears, even before its first byte.
    for name in upstream_of.values() {
        sums.entry(name.as_str()).or_default();
    }
    let mut out: Vec<UpstreamBytes> = sums
        .into_iter()
        .map(|(upstream, (bytes, runs))| UpstreamBytes {
            upstream: upstream.to_owned(),
            bytes,
            runs,
        })
        .collect();
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.upstream.cmp(&b.upstream)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{Summary, Trigger};

    fn run(rule: &str, state: RunState, finished_at: Option<u64>, bytes: u64) -> RunRecord {
        RunRecord {
            id: 1,
            rule: rule.into(),
            trigger: Trigger::Manual,
            state,
            created_at: 0,
            started_at: None,
            finished_at,
            resumed: 0,
            summary: Summary {
                bytes_fetched: bytes,
                ..Summary::default()
            },
            error: None,
        }
    }

    #[test]
    fn runs_are_counted_on_the_day_they_finished() {
        let day = 86_400;
        let now = 20_000 * day + 3600;
        let runs = [
            run("a", RunState::Succeeded, Some(now - 10), 0),
            run("a", RunState::Failed, Some(now - 20), 0),
            run("a", RunState::Succeeded, Some(now - 2 * day), 0),
            run("a", RunState::Succeeded, Some(now - 30 * day), 0), // too old
            run("a", RunState::Running, None, 0),
        ];
        let per_day = runs_per_day(&runs, 3, now);
        assert_eq!(per_day.len(), 3);
        assert_eq!(per_day[0].day, 19_998);
        assert_eq!((per_day[0].succeeded, per_day[0].failed), (1, 0));
        assert_eq!((per_day[1].succeeded, per_day[1].failed), (0, 0));
        assert_eq!((per_day[2].succeeded, per_day[2].failed), (1, 1));
        assert_eq!(runs_per_day(&[], 0, now).len(), 0);
    }

    #[test]
    fn bytes_go_to_the_upstream_the_rule_uses_now() {
        let upstream_of: HashMap<String, String> = [
            ("a".to_owned(), "hub".to_owned()),
            ("b".to_owned(), "quay".to_owned()),
            ("c".to_owned(), "idle".to_owned()),
        ]
        .into();
        let runs = [
            run("a", RunState::Succeeded, Some(1), 100),
            run("a", RunState::Succeeded, Some(2), 50),
            run("b", RunState::Failed, Some(3), 500),
            run("gone", RunState::Succeeded, Some(4), 7),
        ];
        let out = bytes_per_upstream(&runs, &upstream_of);
        let rows: Vec<(&str, u64, u64)> = out
            .iter()
            .map(|u| (u.upstream.as_str(), u.bytes, u.runs))
            .collect();
        assert_eq!(
            rows,
            [
                ("quay", 500, 1),
                ("hub", 150, 2),
                (GONE_RULE, 7, 1),
                ("idle", 0, 0)
            ]
        );
    }
}
