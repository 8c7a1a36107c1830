//! The dashboard: how much the registry holds, the disk, recent changes, running syncs
//! and what needs attention (disk nearly full, failed sync runs).

use super::format;
use super::render::{render, Layout, PageResult};
use super::svg;
use super::viewer::Viewer;
use crate::auth::Action;
use crate::http::gate::Gate;
use crate::registry::{Overview, RecentChange, Registry};
use crate::sync::{LiveRun, RunRecord, RunState, Syncer, UpstreamStatus};
use actix_web::web;
use askama::Template;

routes! {
    GET "/" ["/"] Console => page;
}

/// Changes listed; the repositories page has the rest.
const RECENT: usize = 15;
/// Runs looked at for what is running and what failed lately.
const RUNS_LOOKED_AT: usize = 50;
/// A failed run stays a warning this long.
const FAILED_RUN_WARNS_FOR: u64 = 24 * 3600;
/// The disk counts as nearly full past this fraction used.
const DISK_WARN: f64 = 0.9;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    layout: Layout,
    figures: Vec<Figure>,
    disk: DiskView,
    warnings: Vec<Warning>,
    running: Vec<RunRow>,
    changes: Vec<ChangeRow>,
    /// Whether the viewer may see sync runs (admins).
    sees_sync: bool,
}

struct Figure {
    value: String,
    label: &'static str,
    href: &'static str,
}

struct DiskView {
    gauge: String,
    used: String,
    free: String,
    total: String,
    blob_bytes: String,
    uploads: String,
    reserve: String,
}

struct Warning {
    text: String,
    href: String,
    link: &'static str,
}

struct RunRow {
    href: String,
    rule: String,
    id: u64,
    state: &'static str,
    tags_done: u64,
    tags_failed: u64,
    blobs: u64,
    bytes: String,
    /// Blobs in flight: short digest, done and total bytes as text, and the figures for a
    /// `<progress>` (total 0 when unknown).
    in_flight: Vec<BlobRow>,
}

struct BlobRow {
    digest: String,
    repository: String,
    text: String,
    done: u64,
    total: u64,
}

struct ChangeRow {
    when: TimeView,
    repo: String,
    repo_href: String,
    tag: String,
    tag_href: String,
    digest: Option<(String, String, String)>,
    source: String,
}

struct TimeView {
    iso: String,
    when: String,
    ago: String,
}

impl TimeView {
    fn of(unix: u64, now: u64) -> TimeView {
        TimeView {
            iso: format::iso(unix),
            when: format::when(unix),
            ago: format::ago(unix, now),
        }
    }
}

async fn page(
    viewer: Viewer,
    registry: web::Data<Registry>,
    syncer: Option<web::Data<Syncer>>,
    gate: web::Data<Gate>,
) -> PageResult {
    let now = format::now();
    let overview = registry.overview().await?;
    let changes = registry
        .recent_changes(RECENT * 4)
        .await?
        .into_iter()
        .filter(|c| viewer.may(&gate, Action::Pull, &c.repo))
        .take(RECENT)
        .map(|c| change_row(c, now))
        .collect();
    let sees_sync = viewer.is_admin() && syncer.is_some();
    let mut warnings = disk_warnings(&overview);
    let mut running = Vec::new();
    if let (Some(s), true) = (&syncer, sees_sync) {
        let activity = s.activity().await?;
        warnings.extend(upstream_warnings(&activity.upstreams, now));
        warnings.extend(run_warnings(&s.runs(None, RUNS_LOOKED_AT).await?, now));
        running = activity.running.iter().map(run_row).collect();
    }
    let c = &overview.counts;
    let figures = vec![
        figure(c.repositories, "repositories", "/repositories"),
        figure(c.tags, "tags", "/repositories?sort=tags&order=desc"),
        figure(c.manifests, "manifests", "/repositories"),
        figure(c.blobs, "blobs", "/repositories"),
    ];
    Ok(render(
        &viewer,
        &Dashboard {
            layout: Layout::new(&viewer, "Dashboard"),
            figures,
            disk: disk_view(&overview),
            warnings,
            running,
            changes,
            sees_sync,
        },
    ))
}

fn figure(n: u64, label: &'static str, href: &'static str) -> Figure {
    Figure {
        value: thousands(n),
        label,
        href,
    }
}

/// `12345` as `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn disk_view(o: &Overview) -> DiskView {
    let used = o.disk.total.saturating_sub(o.disk.available);
    let label = format!(
        "Disk: {} used of {}, {} free",
        format::bytes(used),
        format::bytes(o.disk.total),
        format::bytes(o.disk.available)
    );
    DiskView {
        gauge: svg::gauge(&label, used, o.disk.total, DISK_WARN),
        used: format::bytes(used),
        free: format::bytes(o.disk.available),
        total: format::bytes(o.disk.total),
        blob_bytes: format::bytes(o.counts.blob_bytes),
        uploads: format::bytes(o.uploads_bytes),
        reserve: format::bytes(o.storage_reserve),
    }
}

fn disk_warnings(o: &Overview) -> Vec<Warning> {
    let d = &o.disk;
    let used = d.total.saturating_sub(d.available);
    let mut out = Vec::new();
    if d.available <= o.storage_reserve {
        out.push(Warning {
            text: format!(
                "The data disk has {} free, no more than the reserve of {}: pushes and syncs are refused until space is freed.",
                format::bytes(d.available),
                format::bytes(o.storage_reserve)
            ),
            href: String::new(),
            link: "",
        });
    } else if d.total > 0 && used as f64 / d.total as f64 >= DISK_WARN {
        out.push(Warning {
            text: format!(
                "The data disk is {:.0}% full ({} free).",
                used as f64 / d.total as f64 * 100.0,
                format::bytes(d.available)
            ),
            href: String::new(),
            link: "",
        });
    }
    out
}

/// Failed runs of the last day, the latest per rule (an upstream that is down fails every
/// run of every rule on it; one line per rule is enough).
fn run_warnings(runs: &[RunRecord], now: u64) -> Vec<Warning> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for r in runs {
        if seen.contains(&r.rule.as_str()) {
            continue;
        }
        seen.push(&r.rule);
        let at = r.finished_at.unwrap_or(r.created_at);
        if r.state != RunState::Failed || now.saturating_sub(at) > FAILED_RUN_WARNS_FOR {
            continue;
        }
        let failed_tags = match r.summary.tags_failed {
            0 => String::new(),
            n => format!(" ({n} tags failed)"),
        };
        out.push(Warning {
            text: format!(
                "Sync of {} failed {}{failed_tags}: {}",
                r.rule,
                format::ago(at, now),
                r.error.as_deref().unwrap_or("see the run")
            ),
            href: format!("/mirrors/runs/{}", r.id),
            link: "Open the run",
        });
    }
    out
}

fn run_row(r: &LiveRun) -> RunRow {
    RunRow {
        href: format!("/mirrors/runs/{}", r.run),
        rule: r.rule.clone(),
        id: r.run,
        state: match r.state {
            Some(RunState::Queued) => "queued",
            _ => "running",
        },
        tags_done: r.tags_done,
        tags_failed: r.tags_failed,
        blobs: r.blobs_done,
        bytes: format::bytes(r.bytes_done),
        in_flight: r
            .blobs
            .iter()
            .map(|b| BlobRow {
                digest: format::short_digest(&b.digest),
                repository: b.repository.clone(),
                text: match b.total {
                    Some(t) => format!("{} of {}", format::bytes(b.done), format::bytes(t)),
                    None => format::bytes(b.done),
                },
                done: b.done,
                total: b.total.unwrap_or(0),
            })
            .collect(),
    }
}

/// Upstreams whose newest finished run failed.
fn upstream_warnings(upstreams: &[UpstreamStatus], now: u64) -> Vec<Warning> {
    upstreams
        .iter()
        .filter(|u| u.ok == Some(false))
        .map(|u| Warning {
            text: format!(
                "Upstream {}: its last sync failed{}: {}",
                u.upstream,
                u.finished_at
                    .map(|t| format!(" {}", format::ago(t, now)))
                    .unwrap_or_default(),
                u.error.as_deref().unwrap_or("see the run")
            ),
            href: format!("/mirrors/upstreams/{}", format::percent_encode(&u.upstream)),
            link: "Open the upstream",
        })
        .collect()
}

fn change_row(c: RecentChange, now: u64) -> ChangeRow {
    let source = match (&c.digest, &c.upstream) {
        (None, _) => "deleted".to_owned(),
        (Some(_), Some(upstream)) => format!("synced from {upstream}"),
        (Some(_), None) => "pushed".to_owned(),
    };
    ChangeRow {
        when: TimeView::of(c.at, now),
        repo_href: format::repo_href(&c.repo),
        tag_href: format::tag_href(&c.repo, &c.tag),
        digest: c.digest.as_ref().map(|d| {
            (
                format::short_digest(d),
                d.clone(),
                format::manifest_href(&c.repo, d),
            )
        }),
        repo: c.repo,
        tag: c.tag,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Counts, DiskSpace};
    use crate::sync::{Summary, Trigger};

    fn overview(total: u64, available: u64, reserve: u64) -> Overview {
        Overview {
            counts: Counts::default(),
            disk: DiskSpace { total, available },
            uploads_bytes: 0,
            storage_reserve: reserve,
        }
    }

    #[test]
    fn the_disk_warns_when_nearly_full_and_when_at_the_reserve() {
        assert!(disk_warnings(&overview(1000, 500, 10)).is_empty());
        let w = disk_warnings(&overview(1000, 50, 10));
        assert_eq!(w.len(), 1);
        assert!(w[0].text.contains("95% full"), "{}", w[0].text);
        let w = disk_warnings(&overview(1000, 10, 10));
        assert!(w[0].text.contains("refused"), "{}", w[0].text);
    }

    fn run(id: u64, rule: &str, state: RunState, finished_at: u64) -> RunRecord {
        RunRecord {
            id,
            rule: rule.into(),
            trigger: Trigger::Manual,
            state,
            created_at: finished_at.saturating_sub(10),
            started_at: Some(finished_at.saturating_sub(9)),
            finished_at: Some(finished_at),
            resumed: 0,
            summary: Summary::default(),
            error: Some("upstream said 500".into()),
        }
    }

    #[test]
    fn a_rule_warns_only_while_its_latest_run_failed_lately() {
        let now = 1_000_000;
        let runs = [
            run(5, "a", RunState::Succeeded, now - 10),
            run(4, "a", RunState::Failed, now - 20),
            run(3, "b", RunState::Failed, now - 30),
            run(2, "c", RunState::Failed, now - 2 * 86_400),
            run(1, "b", RunState::Failed, now - 40),
        ];
        let w = run_warnings(&runs, now);
        assert_eq!(w.len(), 1, "only b: a recovered, c is old");
        assert!(w[0].text.contains("Sync of b failed"), "{}", w[0].text);
        assert_eq!(w[0].href, "/mirrors/runs/3");
    }

    #[test]
    fn big_numbers_get_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
