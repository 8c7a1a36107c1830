//! A rule's drift: each tag it mirrored, the digest synced, the upstream's now, and
//! whether the upstream has moved (one HEAD per tag, capped).

use super::views::{rule_href, Time};
use crate::admin::format;
use crate::admin::render::{render, ConsoleError, Layout, PageResult};
use crate::admin::viewer::AdminViewer;
use crate::sync::{Drift, DriftState, Syncer, DRIFT_TAGS};
use actix_web::web;
use askama::Template;

pub struct DriftRow {
    pub repository: String,
    pub tag: String,
    pub href: String,
    pub synced: String,
    pub synced_short: String,
    pub synced_at: Time,
    pub upstream: String,
    pub upstream_short: String,
    pub state: &'static str,
    pub state_class: &'static str,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "mirrors/drift.html")]
struct DriftPage {
    layout: Layout,
    rule: String,
    rule_href: String,
    sync_action: String,
    rows: Vec<DriftRow>,
    repositories: Vec<(String, String)>,
    /// "2 moved, 10 same"
    counts: String,
    unchecked: usize,
    cap: usize,
}

fn state_words(s: DriftState) -> (&'static str, &'static str) {
    match s {
        DriftState::Same => ("same", "badge ok"),
        DriftState::Moved => ("moved", "badge warn"),
        DriftState::Gone => ("gone upstream", "badge bad"),
        DriftState::Error => ("error", "badge bad"),
    }
}

fn row(d: &Drift, now: u64) -> DriftRow {
    let (state, state_class) = state_words(d.state);
    let upstream = d.upstream.clone().unwrap_or_default();
    DriftRow {
        repository: d.repository.clone(),
        tag: d.tag.clone(),
        href: format::tag_href(&d.repository, &d.tag),
        synced_short: format::short_digest(&d.synced),
        synced: d.synced.clone(),
        synced_at: Time::at(d.synced_at, now),
        upstream_short: format::short_digest(&upstream),
        upstream,
        state,
        state_class,
        error: d.error.clone(),
    }
}

/// `2 moved, 10 same` in the order that matters.
fn counts(rows: &[Drift]) -> String {
    let parts: Vec<String> = [
        (DriftState::Moved, "moved"),
        (DriftState::Gone, "gone upstream"),
        (DriftState::Error, "could not be checked"),
        (DriftState::Same, "same"),
    ]
    .iter()
    .map(|(s, words)| (rows.iter().filter(|d| d.state == *s).count(), words))
    .filter(|(n, _)| *n > 0)
    .map(|(n, words)| format!("{n} {words}"))
    .collect();
    parts.join(", ")
}

pub async fn page(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    name: web::Path<String>,
) -> PageResult {
    if !syncer.mirrors().iter().any(|m| m.settings.name == *name) {
        return Err(ConsoleError::NotFound(format!(
            "There is no mirror rule named {:?}.",
            name.as_str()
        )));
    }
    let drift = syncer.rule_drift(&name).await?;
    let now = format::now();
    let page = DriftPage {
        layout: Layout::new(&viewer, format!("Drift of {}", name.as_str())),
        rule: name.to_string(),
        rule_href: rule_href(&name),
        sync_action: format!("{}/sync", rule_href(&name)),
        rows: drift.tags.iter().map(|d| row(d, now)).collect(),
        repositories: drift
            .repositories
            .iter()
            .map(|r| (r.clone(), format::repo_href(r)))
            .collect(),
        counts: counts(&drift.tags),
        unchecked: drift.unchecked,
        cap: DRIFT_TAGS,
    };
    Ok(render(&viewer, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift(state: DriftState) -> Drift {
        Drift {
            repository: "mirror/app".into(),
            tag: "1.0".into(),
            upstream_name: "up".into(),
            upstream_repository: "lib/app".into(),
            synced: "sha256:aaaa".into(),
            synced_at: 0,
            upstream: None,
            state,
            error: None,
        }
    }

    #[test]
    fn drift_reads_in_words() {
        let rows = [
            drift(DriftState::Same),
            drift(DriftState::Moved),
            drift(DriftState::Same),
            drift(DriftState::Gone),
        ];
        assert_eq!(counts(&rows), "1 moved, 1 gone upstream, 2 same");
        let r = row(&rows[3], 10);
        assert_eq!(r.state, "gone upstream");
        assert_eq!(r.upstream_short, "");
        assert_eq!(r.href, "/repositories/mirror/app/-/tags/1.0");
    }
}
