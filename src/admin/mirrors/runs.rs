//! Sync runs: the list (newest first, paged, errors shown) and one run's page with its
//! state, summary, errors and events. While a run is active its page is kept current by
//! `static/js/progress.js` (server-sent events from `/api/v1/sync/events`); without script,
//! it shows the state at render time with a refresh link.

use super::views::{rule_href, state_class, state_label, trigger_label, RunRow, Time};
use crate::admin::format;
use crate::admin::render::{render, ConsoleError, Layout, PageResult};
use crate::admin::viewer::AdminViewer;
use crate::sync::{Event, LiveRun, RunRecord, Syncer, TagOutcome};
use actix_web::{web, HttpRequest};
use askama::Template;

/// Runs per page of the list.
const PAGE: usize = 50;
/// Events a run's page reads.
const EVENTS: usize = 2000;

#[derive(Template)]
#[template(path = "mirrors/runs.html")]
struct RunsPage {
    layout: Layout,
    runs: Vec<RunRow>,
    page: usize,
    prev_href: Option<String>,
    next_href: Option<String>,
}

pub async fn list(viewer: AdminViewer, syncer: web::Data<Syncer>, req: HttpRequest) -> PageResult {
    let page = crate::admin::forms::page_number(req.query_string()).min(10_000);
    let skip = (page - 1) * PAGE;
    let all = syncer.runs(None, skip + PAGE + 1).await?;
    let now = format::now();
    let runs: Vec<RunRow> = all
        .iter()
        .skip(skip)
        .take(PAGE)
        .map(|r| RunRow::new(r, now))
        .collect();
    let more = all.len() > skip + PAGE;
    let title = if page == 1 {
        "Sync runs".to_owned()
    } else {
        format!("Sync runs, page {page}")
    };
    Ok(render(
        &viewer,
        &RunsPage {
            layout: Layout::new(&viewer, title),
            runs,
            page,
            prev_href: (page > 1).then(|| format!("/mirrors/runs?page={}", page - 1)),
            next_href: more.then(|| format!("/mirrors/runs?page={}", page + 1)),
        },
    ))
}

/// A tag's outcome in a run.
pub struct TagRow {
    /// `repository:tag`, which the script uses to find the row again.
    pub key: String,
    pub repository: String,
    pub tag: String,
    pub href: String,
    pub outcome: &'static str,
    pub outcome_class: &'static str,
    pub digest: String,
    pub short_digest: String,
    pub error: Option<String>,
}

/// A blob fetched, or being fetched.
pub struct BlobRow {
    pub key: String,
    pub repository: String,
    pub digest: String,
    pub short_digest: String,
    pub done: u64,
    /// The `<progress>` maximum; `None` when the size is not known yet.
    pub max: Option<u64>,
    pub text: String,
    pub finished: bool,
}

#[derive(Template)]
#[template(path = "mirrors/run.html")]
struct RunPage {
    layout: Layout,
    row: RunRow,
    rule_exists: bool,
    rule_href: String,
    trigger: &'static str,
    state: &'static str,
    state_class: &'static str,
    active: bool,
    started: Option<Time>,
    finished: Option<Time>,
    resumed: u32,
    /// (field name the script updates, label, value)
    summary: Vec<(&'static str, &'static str, String)>,
    tags: Vec<TagRow>,
    blobs: Vec<BlobRow>,
    notes: Vec<String>,
    /// The sequence number of the last event shown (the script catches up from it).
    last_seq: u64,
    events_capped: bool,
    live: Option<String>,
}

fn outcome_words(o: TagOutcome) -> (&'static str, &'static str) {
    match o {
        TagOutcome::New => ("new", "badge ok"),
        TagOutcome::Updated => ("updated", "badge ok"),
        TagOutcome::Unchanged => ("unchanged", "badge"),
        TagOutcome::Failed => ("failed", "badge bad"),
        TagOutcome::Removed => ("removed", "badge"),
    }
}

fn blob_text(done: u64, total: Option<u64>, finished: bool) -> String {
    match (finished, total) {
        (true, _) => format!("{} fetched", format::bytes(done)),
        (false, Some(t)) => format!("{} of {}", format::bytes(done), format::bytes(t)),
        (false, None) => format!("{} so far", format::bytes(done)),
    }
}

/// The rows of a run's kept events and its live figures.
fn rows(
    events: &[(u64, Event)],
    live: Option<&LiveRun>,
) -> (Vec<TagRow>, Vec<BlobRow>, Vec<String>) {
    let (mut tags, mut blobs, mut notes) = (Vec::new(), Vec::<BlobRow>::new(), Vec::new());
    for (_, event) in events {
        match event {
            Event::Tag {
                repository,
                tag,
                outcome,
                digest,
                error,
                ..
            } => {
                let (outcome, outcome_class) = outcome_words(*outcome);
                let digest = digest.clone().unwrap_or_default();
                tags.push(TagRow {
                    key: format!("{repository}:{tag}"),
                    repository: repository.clone(),
                    tag: tag.clone(),
                    href: format::tag_href(repository, tag),
                    outcome,
                    outcome_class,
                    short_digest: format::short_digest(&digest),
                    digest,
                    error: error.clone(),
                });
            }
            Event::Blob {
                repository,
                digest,
                done,
                finished: true,
                ..
            } => blobs.push(BlobRow {
                key: format!("{repository}@{digest}"),
                repository: repository.clone(),
                digest: digest.clone(),
                short_digest: format::short_digest(digest),
                done: *done,
                max: Some(*done),
                text: blob_text(*done, None, true),
                finished: true,
            }),
            Event::Note { text, .. } => notes.push(text.clone()),
            Event::Blob { .. } | Event::Run { .. } => {}
        }
    }
    for b in live.map(|l| l.blobs.as_slice()).unwrap_or_default() {
        let key = format!("{}@{}", b.repository, b.digest);
        if blobs.iter().any(|x| x.key == key) {
            continue;
        }
        blobs.push(BlobRow {
            key,
            repository: b.repository.clone(),
            digest: b.digest.clone(),
            short_digest: format::short_digest(&b.digest),
            done: b.done,
            max: b.total,
            text: blob_text(b.done, b.total, false),
            finished: false,
        });
    }
    (tags, blobs, notes)
}

fn summary(r: &RunRecord) -> Vec<(&'static str, &'static str, String)> {
    let s = &r.summary;
    vec![
        ("repositories", "Repositories", s.repositories.to_string()),
        ("tags_new", "New tags", s.tags_new.to_string()),
        ("tags_updated", "Updated", s.tags_updated.to_string()),
        ("tags_unchanged", "Unchanged", s.tags_unchanged.to_string()),
        ("tags_failed", "Failed", s.tags_failed.to_string()),
        ("tags_removed", "Removed", s.tags_removed.to_string()),
        (
            "blobs_fetched",
            "Blobs fetched",
            s.blobs_fetched.to_string(),
        ),
        (
            "bytes_fetched",
            "Bytes fetched",
            format::bytes(s.bytes_fetched),
        ),
    ]
}

pub async fn page(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    id: web::Path<String>,
) -> PageResult {
    let id: u64 = id
        .parse()
        .map_err(|_| ConsoleError::NotFound(format!("There is no run {:?}.", id.as_str())))?;
    let run = syncer.run_record(id).await?;
    let events = syncer.run_events(id, 0, EVENTS).await?;
    let live = syncer.live_run(id);
    let (tags, blobs, notes) = rows(&events, live.as_ref());
    let now = format::now();
    let rule_exists = syncer.mirrors().iter().any(|m| m.settings.name == run.rule);
    let live_text = live.as_ref().map(|l| {
        format!(
            "{} tag{} done so far, {} fetched.",
            l.tags_done,
            if l.tags_done == 1 { "" } else { "s" },
            format::bytes(l.bytes_done)
        )
    });
    let page = RunPage {
        layout: Layout::new(&viewer, format!("Run {id} of {}", run.rule)),
        row: RunRow::new(&run, now),
        rule_exists,
        rule_href: rule_href(&run.rule),
        trigger: trigger_label(run.trigger),
        state: state_label(run.state),
        state_class: state_class(run.state),
        active: !run.state.finished(),
        started: run.started_at.map(|t| Time::at(t, now)),
        finished: run.finished_at.map(|t| Time::at(t, now)),
        resumed: run.resumed,
        summary: summary(&run),
        tags,
        blobs,
        notes,
        last_seq: events.last().map_or(0, |(seq, _)| *seq),
        events_capped: events.len() >= EVENTS,
        live: live_text,
    };
    Ok(render(&viewer, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::LiveBlob;

    #[test]
    fn events_become_rows_and_live_blobs_join_them() {
        let events = vec![
            (
                1,
                Event::Tag {
                    run: 1,
                    repository: "mirror/app".into(),
                    tag: "1.0".into(),
                    outcome: TagOutcome::New,
                    digest: Some(format!("sha256:{}", "b".repeat(64))),
                    error: None,
                },
            ),
            (
                2,
                Event::Blob {
                    run: 1,
                    repository: "mirror/app".into(),
                    digest: "sha256:aa".into(),
                    done: 2048,
                    total: None,
                    finished: true,
                },
            ),
            (
                3,
                Event::Note {
                    run: 1,
                    text: "retrying".into(),
                },
            ),
        ];
        let live = LiveRun {
            blobs: vec![
                LiveBlob {
                    repository: "mirror/app".into(),
                    digest: "sha256:aa".into(),
                    done: 1,
                    total: None,
                },
                LiveBlob {
                    repository: "mirror/app".into(),
                    digest: "sha256:cc".into(),
                    done: 1024,
                    total: Some(4096),
                },
            ],
            ..LiveRun::default()
        };
        let (tags, blobs, notes) = rows(&events, Some(&live));
        assert_eq!(tags[0].key, "mirror/app:1.0");
        assert_eq!(tags[0].href, "/repositories/mirror/app/-/tags/1.0");
        assert_eq!(
            (tags[0].outcome, tags[0].outcome_class),
            ("new", "badge ok")
        );
        assert_eq!(blobs.len(), 2, "a finished blob is not shown twice");
        assert_eq!(blobs[0].text, "2.00 KiB fetched");
        assert_eq!(blobs[1].text, "1.00 KiB of 4.00 KiB");
        assert_eq!((blobs[1].done, blobs[1].max), (1024, Some(4096)));
        assert_eq!(notes, ["retrying"]);
    }
}
