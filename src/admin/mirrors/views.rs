//! Pieces every mirrors page shows the same way: times, links, runs as table rows, the
//! words for a run's state and summary.

use crate::admin::format;
use crate::sync::{RunRecord, RunState, Source, Summary, Trigger};

/// A time as `<time datetime="{{iso}}" title="{{when}}">{{ago}}</time>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Time {
    pub iso: String,
    pub when: String,
    pub ago: String,
}

impl Time {
    pub fn at(unix: u64, now: u64) -> Time {
        Time {
            iso: format::iso(unix),
            when: format::when(unix),
            ago: format::ago(unix, now),
        }
    }
}

pub fn upstream_href(name: &str) -> String {
    format!("/mirrors/upstreams/{}", format::percent_encode(name))
}

pub fn rule_href(name: &str) -> String {
    format!("/mirrors/rules/{}", format::percent_encode(name))
}

/// A proxy's prefix may hold slashes: each segment is encoded, the slashes stay.
pub fn proxy_href(prefix: &str) -> String {
    let segments: Vec<String> = prefix
        .trim_matches('/')
        .split('/')
        .map(format::percent_encode)
        .collect();
    format!("/mirrors/proxies/{}", segments.join("/"))
}

pub fn run_href(id: u64) -> String {
    format!("/mirrors/runs/{id}")
}

/// Where a setting came from, in words.
pub fn source_label(source: Source) -> &'static str {
    match source {
        Source::Config => "config file",
        Source::Api => "console or API",
    }
}

pub fn state_label(state: RunState) -> &'static str {
    match state {
        RunState::Queued => "queued",
        RunState::Running => "running",
        RunState::Succeeded => "succeeded",
        RunState::Failed => "failed",
    }
}

/// The badge class of a run state.
pub fn state_class(state: RunState) -> &'static str {
    match state {
        RunState::Succeeded => "badge ok",
        RunState::Failed => "badge bad",
        RunState::Queued | RunState::Running => "badge",
    }
}

pub fn trigger_label(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Schedule => "schedule",
        Trigger::Manual => "manual",
    }
}

/// `3 new, 1 updated, 12 unchanged, 1 failed` (only the counts that are not zero).
pub fn summary_text(s: &Summary) -> String {
    let parts: Vec<String> = [
        (s.tags_new, "new"),
        (s.tags_updated, "updated"),
        (s.tags_unchanged, "unchanged"),
        (s.tags_failed, "failed"),
        (s.tags_removed, "removed"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if parts.is_empty() {
        "no tags".into()
    } else {
        parts.join(", ")
    }
}

/// A manifest media type in a few words (the full type goes in a `title`).
pub fn media_label(media_type: &str) -> String {
    use crate::oci::media_types as mt;
    let words = match media_type {
        mt::DOCKER_SCHEMA2 => "Docker image",
        mt::DOCKER_LIST => "Docker list",
        mt::OCI_MANIFEST => "OCI image",
        mt::OCI_INDEX => "OCI index",
        mt::DOCKER_SCHEMA1 | mt::DOCKER_SCHEMA1_SIGNED => "Docker schema 1",
        "" => "unknown",
        other => other,
    };
    words.to_owned()
}

/// A run as a row of the runs tables.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: u64,
    pub href: String,
    pub rule: String,
    pub rule_href: String,
    pub trigger: &'static str,
    pub state: &'static str,
    pub state_class: &'static str,
    pub created: Time,
    /// How long it ran, once it has finished.
    pub duration: String,
    pub summary: String,
    pub bytes: String,
    pub error: Option<String>,
}

impl RunRow {
    pub fn new(r: &RunRecord, now: u64) -> RunRow {
        let duration = match (r.started_at, r.finished_at) {
            (Some(s), Some(f)) if f > s => format::duration_ms((f - s) * 1000),
            (Some(_), Some(_)) => "under 1 s".into(),
            (Some(s), None) if !r.state.finished() => {
                format!(
                    "{} so far",
                    format::duration_ms(now.saturating_sub(s) * 1000)
                )
            }
            _ => String::new(),
        };
        RunRow {
            id: r.id,
            href: run_href(r.id),
            rule: r.rule.clone(),
            rule_href: rule_href(&r.rule),
            trigger: trigger_label(r.trigger),
            state: state_label(r.state),
            state_class: state_class(r.state),
            created: Time::at(r.created_at, now),
            duration,
            summary: summary_text(&r.summary),
            bytes: format::bytes(r.summary.bytes_fetched),
            error: r.error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_keep_names_in_one_piece() {
        assert_eq!(upstream_href("hub.io"), "/mirrors/upstreams/hub.io");
        assert_eq!(proxy_href("/a b/c/"), "/mirrors/proxies/a%20b/c");
        assert_eq!(proxy_href("<x>"), "/mirrors/proxies/%3Cx%3E");
    }

    #[test]
    fn a_run_reads_as_a_row() {
        let r = RunRecord {
            id: 4,
            rule: "app".into(),
            trigger: Trigger::Manual,
            state: RunState::Failed,
            created_at: 100,
            started_at: Some(100),
            finished_at: Some(112),
            resumed: 0,
            summary: Summary {
                tags_new: 2,
                tags_failed: 1,
                bytes_fetched: 2048,
                ..Summary::default()
            },
            error: Some("x: boom".into()),
        };
        let row = RunRow::new(&r, 200);
        assert_eq!(row.href, "/mirrors/runs/4");
        assert_eq!(row.summary, "2 new, 1 failed");
        assert_eq!(row.duration, "12.0 s");
        assert_eq!(row.bytes, "2.00 KiB");
        assert_eq!((row.state, row.state_class), ("failed", "badge bad"));
        assert_eq!(summary_text(&Summary::default()), "no tags");
        let quick = RunRecord {
            finished_at: Some(100),
            ..r
        };
        assert_eq!(RunRow::new(&quick, 200).duration, "under 1 s");
        assert_eq!(
            media_label("application/vnd.oci.image.index.v1+json"),
            "OCI index"
        );
        assert_eq!(media_label("x/y"), "x/y");
    }
}
