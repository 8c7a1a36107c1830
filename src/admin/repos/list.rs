//! `GET /repositories`: every repository the viewer may pull, searched by name, sorted by
//! name, last push or tag count, 50 to a page. Fast at 10,000 repositories: the summaries
//! come from the registry's cache (rebuilt only after a write) and are filtered, sorted and
//! cut in memory; no repository's manifests are read.

use super::view::{pages, showing, thousands, Pager, Time};
use crate::admin::format;
use crate::admin::render::{render, Layout, PageResult};
use crate::admin::viewer::Viewer;
use crate::auth::Action;
use crate::http::gate::Gate;
use crate::registry::{Registry, RepoSummary};
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;
use std::cmp::Ordering;

pub const PER_PAGE: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Name,
    Push,
    Tags,
}

impl Sort {
    fn parse(s: &str) -> Sort {
        match s {
            "push" => Sort::Push,
            "tags" => Sort::Tags,
            _ => Sort::Name,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Push => "push",
            Sort::Tags => "tags",
        }
    }

    /// Names read A to Z; pushes and tag counts, biggest first.
    fn default_descending(self) -> bool {
        self != Sort::Name
    }
}

/// The query of the list: `?q=&sort=&order=&page=`, read leniently (a bad value is the
/// default, not an error page).
#[derive(Debug, Default, Deserialize)]
struct RawQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    order: String,
    #[serde(default)]
    page: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub q: String,
    pub sort: Sort,
    pub descending: bool,
    pub page: usize,
}

impl Query {
    pub fn parse(query_string: &str) -> Query {
        let raw: RawQuery = serde_urlencoded::from_str(query_string).unwrap_or_default();
        let sort = Sort::parse(&raw.sort);
        Query {
            q: raw.q.trim().to_owned(),
            sort,
            descending: match raw.order.as_str() {
                "asc" => false,
                "desc" => true,
                _ => sort.default_descending(),
            },
            page: raw.page.parse().unwrap_or(1),
        }
    }

    /// This query's URL with another sort, order or page.
    fn href(&self, sort: Sort, descending: bool, page: usize) -> String {
        let mut parts = Vec::new();
        if !self.q.is_empty() {
            parts.push(format!("q={}", format::percent_encode(&self.q)));
        }
        parts.push(format!("sort={}", sort.key()));
        parts.push(format!("order={}", if descending { "desc" } else { "asc" }));
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        format!("/repositories?{}", parts.join("&"))
    }
}

/// The summaries matching `q` (a substring of the name, any case), in the query's order.
pub fn select<'a>(all: &'a [RepoSummary], query: &Query) -> Vec<&'a RepoSummary> {
    let q = query.q.to_lowercase();
    let mut hits: Vec<&RepoSummary> = all
        .iter()
        .filter(|r| q.is_empty() || r.name.contains(&q))
        .collect();
    let by_name = |a: &&RepoSummary, b: &&RepoSummary| a.name.cmp(&b.name);
    let order = |a: &&RepoSummary, b: &&RepoSummary| -> Ordering {
        let primary = match query.sort {
            Sort::Name => by_name(a, b),
            Sort::Push => a.last_change.cmp(&b.last_change),
            Sort::Tags => a.tags.cmp(&b.tags),
        };
        let primary = if query.descending {
            primary.reverse()
        } else {
            primary
        };
        // Ties read by name, whichever way the column goes, so pages never shuffle.
        primary.then_with(|| by_name(a, b))
    };
    hits.sort_unstable_by(order);
    hits
}

struct Row {
    name: String,
    href: String,
    tags: String,
    last_push: Time,
}

struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// A sortable column's header: a link that sorts by it (the other way when it already is).
struct Column {
    label: &'static str,
    href: String,
    /// `ascending` / `descending` on the column the list is sorted by.
    aria_sort: Option<&'static str>,
    arrow: &'static str,
    num: bool,
}

#[derive(Template)]
#[template(path = "repos/list.html")]
struct ListPage {
    layout: Layout,
    q: String,
    sorts: Vec<Choice>,
    orders: Vec<Choice>,
    columns: Vec<Column>,
    /// Repositories the viewer may see at all (0: the empty state).
    visible: usize,
    showing: String,
    rows: Vec<Row>,
    pager: Pager,
    host: String,
}

pub async fn page(
    viewer: Viewer,
    req: HttpRequest,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> PageResult {
    let query = Query::parse(req.query_string());
    let summaries = registry.repo_summaries().await?;
    // Only what the viewer may pull; with access control off that is everything, and the
    // cached list is used as it is.
    let allowed: Vec<RepoSummary>;
    let all: &[RepoSummary] = if viewer.auth_enabled && !viewer.is_admin() {
        allowed = summaries
            .iter()
            .filter(|r| viewer.may(&gate, Action::Pull, &r.name))
            .cloned()
            .collect();
        &allowed
    } else {
        &summaries
    };
    let hits = select(all, &query);
    let (page_count, page) = pages(hits.len(), PER_PAGE, query.page);
    let offset = (page - 1) * PER_PAGE;
    let now = format::now();
    let rows: Vec<Row> = hits
        .iter()
        .skip(offset)
        .take(PER_PAGE)
        .map(|r| Row {
            name: r.name.clone(),
            href: format::repo_href(&r.name),
            tags: thousands(r.tags),
            last_push: Time::at(r.last_change, now),
        })
        .collect();
    let column = |label, sort: Sort, num| {
        let current = query.sort == sort;
        let descending = if current {
            !query.descending
        } else {
            sort.default_descending()
        };
        Column {
            label,
            href: query.href(sort, descending, 1),
            aria_sort: current.then_some(if query.descending {
                "descending"
            } else {
                "ascending"
            }),
            arrow: match (current, query.descending) {
                (false, _) => "",
                (true, false) => "▲",
                (true, true) => "▼",
            },
            num,
        }
    };
    let page_view = ListPage {
        layout: Layout::new(&viewer, "Repositories"),
        sorts: [
            ("name", "Name", Sort::Name),
            ("push", "Last push", Sort::Push),
            ("tags", "Tag count", Sort::Tags),
        ]
        .into_iter()
        .map(|(value, label, sort)| Choice {
            value,
            label,
            selected: query.sort == sort,
        })
        .collect(),
        orders: vec![
            Choice {
                value: "asc",
                label: "Ascending",
                selected: !query.descending,
            },
            Choice {
                value: "desc",
                label: "Descending",
                selected: query.descending,
            },
        ],
        columns: vec![
            column("Name", Sort::Name, false),
            column("Tags", Sort::Tags, true),
            column("Last push", Sort::Push, false),
        ],
        visible: all.len(),
        showing: showing(offset, rows.len(), hits.len(), "repository", "repositories"),
        rows,
        pager: Pager::new("Repository pages", page, page_count, |n| {
            query.href(query.sort, query.descending, n)
        }),
        host: super::view::pull_host(&req),
        q: query.q,
    };
    Ok(render(&viewer, &page_view))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repos(n: usize) -> Vec<RepoSummary> {
        (0..n)
            .map(|i| RepoSummary {
                name: format!("team/app-{i:03}"),
                tags: (i % 7) as u64,
                last_change: 1_000 + (i * 37 % 101) as u64,
            })
            .collect()
    }

    fn names(v: &[&RepoSummary]) -> Vec<String> {
        v.iter().map(|r| r.name.clone()).collect()
    }

    #[test]
    fn queries_are_read_leniently_with_sensible_defaults() {
        let q = Query::parse("");
        assert_eq!((q.sort, q.descending, q.page), (Sort::Name, false, 1));
        let q = Query::parse("q=+App+&sort=push&page=x");
        assert_eq!(
            (q.q.as_str(), q.sort, q.descending, q.page),
            ("App", Sort::Push, true, 1)
        );
        let q = Query::parse("sort=tags&order=asc&page=3&extra=1");
        assert_eq!((q.sort, q.descending, q.page), (Sort::Tags, false, 3));
        let q = Query::parse("sort=%3Cscript%3E&order=sideways");
        assert_eq!((q.sort, q.descending), (Sort::Name, false));
        assert_eq!(
            Query::parse("q=a/b c").href(Sort::Tags, true, 2),
            "/repositories?q=a%2Fb%20c&sort=tags&order=desc&page=2"
        );
    }

    #[test]
    fn selection_filters_by_substring_and_sorts_with_name_as_tie_breaker() {
        let all = repos(120);
        let q = Query::parse("q=APP-01");
        assert_eq!(select(&all, &q).len(), 10);
        let q = Query::parse("sort=tags&order=desc");
        let hits = select(&all, &q);
        assert_eq!(hits.len(), 120);
        assert!(hits
            .windows(2)
            .all(|w| w[0].tags > w[1].tags || (w[0].tags == w[1].tags && w[0].name < w[1].name)));
        let q = Query::parse("sort=push&order=asc");
        let hits = select(&all, &q);
        assert!(hits
            .windows(2)
            .all(|w| w[0].last_change <= w[1].last_change));
        let q = Query::parse("sort=name&order=desc");
        assert_eq!(names(&select(&all, &q))[0], "team/app-119");
        assert!(select(&all, &Query::parse("q=nothing")).is_empty());
    }
}
