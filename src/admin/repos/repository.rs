//! `GET /repositories/<name>?q=&page=`: a repository's tags with their last push, size,
//! platforms, kind and digest, 100 to a page, filtered by name on the server (`q`) and as
//! you type (script). The registry looks into the page's tags only, in one blocking call.

use super::view::{kind_label, pages, pull_host, showing, DigestLink, Pager, Time};
use super::{no_repository, Gate};
use crate::admin::format;
use crate::admin::render::{render, Layout, PageResult};
use crate::admin::viewer::Viewer;
use crate::auth::Action;
use crate::oci::RepoName;
use crate::registry::{Registry, TagRow};
use actix_web::HttpRequest;
use askama::Template;
use serde::Deserialize;

pub const PER_PAGE: usize = 100;

#[derive(Debug, Default, Deserialize)]
struct RawQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: String,
}

pub struct TagLine {
    pub tag: String,
    pub href: String,
    pub digest: DigestLink,
    pub kind: &'static str,
    pub media_type: String,
    pub size: String,
    pub platforms: String,
    pub last_push: Option<Time>,
    pub upstream: Option<String>,
}

impl TagLine {
    pub fn new(repo: &str, row: TagRow, now: u64) -> TagLine {
        TagLine {
            href: format::tag_href(repo, &row.tag),
            digest: DigestLink::new(repo, &row.digest),
            kind: kind_label(&row.media_type),
            size: format::bytes(row.size),
            platforms: row.platforms.join(", "),
            last_push: row.last_change.map(|t| Time::at(t, now)),
            upstream: row.upstream,
            media_type: row.media_type,
            tag: row.tag,
        }
    }
}

#[derive(Template)]
#[template(path = "repos/repository.html")]
struct RepositoryPage {
    layout: Layout,
    name: String,
    href: String,
    q: String,
    total: usize,
    showing: String,
    rows: Vec<TagLine>,
    pager: Pager,
    pull: String,
    may_push: bool,
    push: String,
}

pub async fn page(
    viewer: &Viewer,
    req: &HttpRequest,
    registry: &Registry,
    gate: &Gate,
    repo: &RepoName,
) -> PageResult {
    let raw: RawQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let q = raw.q.trim().to_owned();
    let wanted: usize = raw.page.parse().unwrap_or(1).max(1);
    let name = repo.as_str();
    let fetch = |page: usize| registry.tag_page(repo, &q, (page - 1) * PER_PAGE, PER_PAGE);
    let mut tags = fetch(wanted).await?.ok_or_else(|| no_repository(name))?;
    let (page_count, page) = pages(tags.matched, PER_PAGE, wanted);
    if page != wanted {
        // Past the last page (the link was older than a delete): show the last one.
        tags = fetch(page).await?.ok_or_else(|| no_repository(name))?;
    }
    let now = format::now();
    let offset = (page - 1) * PER_PAGE;
    let rows: Vec<TagLine> = tags
        .rows
        .into_iter()
        .map(|row| TagLine::new(name, row, now))
        .collect();
    let host = pull_host(req);
    let href = |n: usize| {
        let mut parts = Vec::new();
        if !q.is_empty() {
            parts.push(format!("q={}", format::percent_encode(&q)));
        }
        if n > 1 {
            parts.push(format!("page={n}"));
        }
        match parts.is_empty() {
            true => format::repo_href(name),
            false => format!("{}?{}", format::repo_href(name), parts.join("&")),
        }
    };
    let page_view = RepositoryPage {
        layout: Layout::new(viewer, name),
        name: name.to_owned(),
        href: format::repo_href(name),
        total: tags.total,
        showing: showing(offset, rows.len(), tags.matched, "tag", "tags"),
        rows,
        pager: Pager::new("Tag pages", page, page_count, href),
        pull: format!("docker pull {host}/{name}"),
        may_push: viewer.may(gate, Action::Push, name),
        push: format!("docker push {host}/{name}:<tag>"),
        q,
    };
    Ok(render(viewer, &page_view))
}
