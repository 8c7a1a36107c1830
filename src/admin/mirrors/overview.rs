//! `/mirrors`: upstreams with how their last run went, rules with their schedule, mode and
//! last run, pull-through prefixes, runs in progress, runs per day and bytes per upstream
//! (SVG from `svg.rs`), and the recent runs.

use super::forms::mode_value;
use super::views::{proxy_href, rule_href, run_href, source_label, upstream_href, RunRow, Time};
use crate::admin::format;
use crate::admin::render::{render, Layout, PageResult};
use crate::admin::svg;
use crate::admin::viewer::AdminViewer;
use crate::sync::{DayRuns, LiveRun, RunRecord, Syncer, UpstreamBytes};
use actix_web::web;
use askama::Template;

/// Days the runs chart covers.
const CHART_DAYS: u64 = 14;
/// Recent runs listed.
const RECENT: usize = 10;

pub struct UpstreamRow {
    pub name: String,
    pub href: String,
    pub url: String,
    pub source: &'static str,
    /// "default; docker.io" and the like.
    pub roles: String,
    pub credentials: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub when: Option<Time>,
    pub run_href: Option<String>,
    pub error: Option<String>,
}

pub struct RuleRow {
    pub name: String,
    pub href: String,
    pub upstream: String,
    pub upstream_href: String,
    pub from: String,
    pub to: String,
    pub schedule: String,
    pub mode: &'static str,
    pub source: &'static str,
    pub last: Option<RunRow>,
}

pub struct ProxyRow {
    pub prefix: String,
    pub href: String,
    pub upstream: String,
    pub fresh_for: String,
    pub source: String,
}

pub struct LiveRow {
    pub href: String,
    pub id: u64,
    pub rule: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "mirrors/overview.html")]
struct Overview {
    layout: Layout,
    upstreams: Vec<UpstreamRow>,
    rules: Vec<RuleRow>,
    proxies: Vec<ProxyRow>,
    running: Vec<LiveRow>,
    runs_chart: String,
    runs_chart_text: String,
    bytes_chart: String,
    bytes_chart_text: String,
    runs: Vec<RunRow>,
}

/// The runs-per-day chart and its text equivalent.
fn runs_chart(days: &[DayRuns]) -> (String, String) {
    let cols: Vec<svg::Column> = days
        .iter()
        .map(|d| svg::Column {
            label: format::iso(d.day * 86_400)
                .get(5..10)
                .unwrap_or_default()
                .to_owned(),
            ok: d.succeeded,
            bad: d.failed,
        })
        .collect();
    let ok: u64 = days.iter().map(|d| d.succeeded).sum();
    let bad: u64 = days.iter().map(|d| d.failed).sum();
    let text = format!(
        "Runs finished in the last {} days: {ok} succeeded, {bad} failed.",
        days.len()
    );
    (svg::columns(&text, &cols), text)
}

/// The bytes-per-upstream chart and its text equivalent.
fn bytes_chart(rows: &[UpstreamBytes]) -> (String, String) {
    let bars: Vec<svg::BarRow> = rows
        .iter()
        .map(|u| svg::BarRow {
            label: u.upstream.clone(),
            value: u.bytes,
            value_text: format::bytes(u.bytes),
        })
        .collect();
    let parts: Vec<String> = rows
        .iter()
        .map(|u| format!("{} {}", u.upstream, format::bytes(u.bytes)))
        .collect();
    let text = if parts.is_empty() {
        "No bytes fetched yet.".to_owned()
    } else {
        format!("Bytes fetched by the kept runs: {}.", parts.join(", "))
    };
    (svg::bar_chart(&text, &bars), text)
}

fn live_row(l: &LiveRun) -> LiveRow {
    let state = l.state.map_or("queued", super::views::state_label);
    LiveRow {
        href: run_href(l.run),
        id: l.run,
        rule: l.rule.clone(),
        text: format!(
            "{state}: {} tag{} done, {} fetched, {} blob{} in flight",
            l.tags_done,
            if l.tags_done == 1 { "" } else { "s" },
            format::bytes(l.bytes_done),
            l.blobs.len(),
            if l.blobs.len() == 1 { "" } else { "s" },
        ),
    }
}

fn rule_rows(syncer: &Syncer, runs: &[RunRecord], now: u64) -> Vec<RuleRow> {
    syncer
        .mirrors()
        .into_iter()
        .map(|m| {
            let s = &m.settings;
            RuleRow {
                href: rule_href(&s.name),
                upstream_href: upstream_href(&s.upstream),
                upstream: s.upstream.clone(),
                from: s.from.clone(),
                to: s.to.clone(),
                schedule: s
                    .every
                    .as_ref()
                    .map_or_else(|| "when asked".to_owned(), |e| format!("every {e}")),
                mode: mode_value(s.mode),
                source: source_label(m.source),
                last: runs
                    .iter()
                    .find(|r| r.rule == s.name)
                    .map(|r| RunRow::new(r, now)),
                name: s.name.clone(),
            }
        })
        .collect()
}

fn upstream_rows(syncer: &Syncer, runs: &[RunRecord], now: u64) -> Vec<UpstreamRow> {
    let statuses = syncer.upstream_statuses(runs);
    syncer
        .upstreams()
        .into_iter()
        .map(|u| {
            let s = &u.settings;
            let status = statuses.iter().find(|st| st.upstream == s.name);
            let (label, class) = match status.and_then(|st| st.ok) {
                Some(true) => ("last run succeeded", "badge ok"),
                Some(false) => ("last run failed", "badge bad"),
                None => ("no run yet", "badge"),
            };
            let mut roles = Vec::new();
            if s.default {
                roles.push("default".to_owned());
            }
            if !s.hosts.is_empty() {
                roles.push(format!("answers for {}", s.hosts.join(", ")));
            }
            UpstreamRow {
                name: s.name.clone(),
                href: upstream_href(&s.name),
                url: s.url.clone(),
                source: source_label(u.source),
                roles: roles.join("; "),
                credentials: match (&s.username, u.has_password) {
                    (Some(user), true) => format!("{user}, password set"),
                    (Some(user), false) => format!("{user}, no password"),
                    (None, _) => "anonymous".into(),
                },
                status: label,
                status_class: class,
                when: status
                    .and_then(|st| st.finished_at)
                    .map(|t| Time::at(t, now)),
                run_href: status.and_then(|st| st.last_run).map(run_href),
                error: status.and_then(|st| st.error.clone()),
            }
        })
        .collect()
}

pub async fn page(viewer: AdminViewer, syncer: web::Data<Syncer>) -> PageResult {
    let now = format::now();
    let runs = syncer.runs(None, 200).await?;
    let stats = syncer.run_stats(CHART_DAYS, now).await?;
    let (runs_chart, runs_chart_text) = runs_chart(&stats.per_day);
    let (bytes_chart, bytes_chart_text) = bytes_chart(&stats.per_upstream);
    let proxies = syncer
        .proxies()
        .into_iter()
        .map(|p| ProxyRow {
            prefix: p.settings.prefix.trim_matches('/').to_owned(),
            href: proxy_href(&p.settings.prefix),
            upstream: p.settings.upstream.clone(),
            fresh_for: p.settings.fresh_for.clone().unwrap_or_else(|| "5m".into()),
            source: if p.implicit {
                format!("made for {}", p.settings.upstream)
            } else {
                source_label(p.source).to_owned()
            },
        })
        .collect();
    let page = Overview {
        layout: Layout::new(&viewer, "Mirrors"),
        upstreams: upstream_rows(&syncer, &runs, now),
        rules: rule_rows(&syncer, &runs, now),
        proxies,
        running: syncer.live_runs().iter().map(live_row).collect(),
        runs_chart,
        runs_chart_text,
        bytes_chart,
        bytes_chart_text,
        runs: runs
            .iter()
            .take(RECENT)
            .map(|r| RunRow::new(r, now))
            .collect(),
    };
    Ok(render(&viewer, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_have_words_and_escape_names() {
        let (svg, text) = runs_chart(&[
            DayRuns {
                day: 20_000,
                succeeded: 3,
                failed: 1,
            },
            DayRuns {
                day: 20_001,
                succeeded: 0,
                failed: 0,
            },
        ]);
        assert!(text.contains("3 succeeded, 1 failed"), "{text}");
        assert!(svg.contains("10-04"), "{svg}");
        let (svg, text) = bytes_chart(&[UpstreamBytes {
            upstream: "<script>".into(),
            bytes: 2048,
            runs: 1,
        }]);
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
        assert!(text.contains("2.00 KiB"));
        assert_eq!(bytes_chart(&[]).1, "No bytes fetched yet.");
    }
}
