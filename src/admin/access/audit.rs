//! The audit log (admins only): who did what, from where, with what outcome, newest
//! first, filtered by who, action, repository, result and a time window, a page at a time.
//! Entries hold what clients sent (a failed login's user name, say): they are text here.

use super::{off_page, tabs, Tab, Time};
use crate::admin::format;
use crate::admin::render::{render, Layout, PageResult};
use crate::admin::viewer::AdminViewer;
use crate::auth::{AuditEntry, AuditQuery};
use crate::http::gate::Gate;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

/// Entries on a page.
const PAGE_SIZE: usize = 50;

/// The time windows offered: (value, label, milliseconds).
const WINDOWS: &[(&str, &str, u64)] = &[
    ("", "any time", 0),
    ("1h", "the last hour", 3_600_000),
    ("24h", "the last 24 hours", 86_400_000),
    ("7d", "the last 7 days", 7 * 86_400_000),
    ("30d", "the last 30 days", 30 * 86_400_000),
];

const RESULTS: &[(&str, &str)] = &[
    ("", "any result"),
    ("ok", "ok"),
    ("failed", "failed"),
    ("denied", "denied"),
    ("locked", "locked"),
];

/// Actions the log holds, offered as suggestions (a prefix finds all below it).
const ACTIONS: &[&str] = &[
    "login",
    "push",
    "delete",
    "user",
    "user.add",
    "user.roles",
    "user.passwd",
    "user.remove",
    "token",
    "token.create",
    "token.revoke",
    "rule",
    "rule.add",
    "rule.remove",
];

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Filters {
    #[serde(default)]
    who: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    repo: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    within: String,
    #[serde(default)]
    page: String,
}

impl Filters {
    fn page(&self) -> usize {
        self.page
            .trim()
            .parse::<usize>()
            .unwrap_or(1)
            .clamp(1, 10_000)
    }

    fn query(&self, now_ms: u64) -> AuditQuery {
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let window = WINDOWS
            .iter()
            .find(|(v, _, _)| !v.is_empty() && *v == self.within)
            .map(|w| w.2);
        AuditQuery {
            who: text(&self.who),
            action: text(&self.action),
            repo: text(&self.repo),
            outcome: text(&self.result),
            since_ms: window.map(|ms| now_ms.saturating_sub(ms)),
            until_ms: None,
            offset: (self.page() - 1) * PAGE_SIZE,
            limit: PAGE_SIZE,
        }
    }

    /// This search's URL on page `page`.
    fn href(&self, page: usize) -> String {
        let mut parts = Vec::new();
        for (key, value) in [
            ("who", &self.who),
            ("action", &self.action),
            ("repo", &self.repo),
            ("result", &self.result),
            ("within", &self.within),
        ] {
            if !value.trim().is_empty() {
                parts.push(format!("{key}={}", format::percent_encode(value.trim())));
            }
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        if parts.is_empty() {
            "/access/audit".into()
        } else {
            format!("/access/audit?{}", parts.join("&"))
        }
    }
}

pub struct AuditRow {
    pub time: Time,
    pub who: String,
    pub address: String,
    pub action: String,
    pub target: String,
    pub result: String,
    pub ok: bool,
    /// (short, full) when the entry names a digest.
    pub digest: Option<(String, String)>,
    /// Any other detail.
    pub detail: String,
}

fn row(e: AuditEntry, now: u64) -> AuditRow {
    let digest = e
        .detail
        .starts_with("sha256:")
        .then(|| (format::short_digest(&e.detail), e.detail.clone()));
    AuditRow {
        time: Time::at(e.at / 1000, now),
        who: e.who,
        address: e.address.unwrap_or_default(),
        action: e.action,
        target: e.target,
        ok: e.outcome == "ok",
        result: e.outcome,
        detail: if digest.is_some() {
            String::new()
        } else {
            e.detail
        },
        digest,
    }
}

struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "access/audit.html")]
struct AuditPageView {
    layout: Layout,
    tabs: Vec<Tab>,
    filters: Filters,
    results: Vec<Choice>,
    windows: Vec<Choice>,
    actions: &'static [&'static str],
    rows: Vec<AuditRow>,
    /// "Entries 51-100", or nothing found.
    showing: String,
    newer: Option<String>,
    older: Option<String>,
    cut_short: bool,
    filtered: bool,
}

/// `GET /access/audit`
pub async fn page(viewer: AdminViewer, gate: web::Data<Gate>, req: HttpRequest) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    // Read leniently: a hand-edited URL shows the log, not an error.
    let filters: Filters = web::Query::<Filters>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let now = format::now();
    let query = filters.query(now * 1000);
    let found = gate.auth.audit_search(&query).await?;
    let page = filters.page();
    let first = query.offset + 1;
    let showing = match found.entries.len() {
        0 if page > 1 => "No more entries.".to_owned(),
        0 => "No entries match.".to_owned(),
        n => format!("Entries {first}–{}, newest first.", first + n - 1),
    };
    let view = AuditPageView {
        layout: Layout::new(&viewer, "Audit log"),
        tabs: tabs(&viewer, "/access/audit"),
        results: RESULTS
            .iter()
            .map(|&(value, label)| Choice {
                value,
                label,
                selected: value == filters.result,
            })
            .collect(),
        windows: WINDOWS
            .iter()
            .map(|&(value, label, _)| Choice {
                value,
                label,
                selected: value == filters.within,
            })
            .collect(),
        actions: ACTIONS,
        rows: found.entries.into_iter().map(|e| row(e, now)).collect(),
        showing,
        newer: (page > 1).then(|| filters.href(page - 1)),
        older: found.more.then(|| filters.href(page + 1)),
        cut_short: found.cut_short,
        filtered: filters.href(1) != "/access/audit",
        filters,
    };
    Ok(render(&viewer, &view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_queries_and_links() {
        let f = Filters {
            who: " bob ".into(),
            repo: "team/*".into(),
            within: "1h".into(),
            page: "3".into(),
            ..Filters::default()
        };
        let q = f.query(10_000_000);
        assert_eq!(q.who.as_deref(), Some("bob"));
        assert_eq!(q.action, None);
        assert_eq!(q.since_ms, Some(10_000_000 - 3_600_000));
        assert_eq!(q.offset, 2 * PAGE_SIZE);
        assert_eq!(
            f.href(4),
            "/access/audit?who=bob&repo=team%2F%2A&within=1h&page=4"
        );
        assert_eq!(Filters::default().href(1), "/access/audit");
        let odd = Filters {
            within: "forever".into(),
            page: "x".into(),
            ..Filters::default()
        };
        assert_eq!(odd.query(5).since_ms, None);
        assert_eq!(odd.page(), 1);
    }

    #[test]
    fn rows_separate_digests_from_other_detail() {
        let e = AuditEntry {
            at: 1_000_000,
            who: "admin".into(),
            address: Some("127.0.0.1".into()),
            action: "push".into(),
            target: "team/app:v1".into(),
            outcome: "ok".into(),
            detail: format!("sha256:{}", "ab".repeat(32)),
        };
        let r = row(e.clone(), 1_000);
        assert_eq!(
            r.digest.as_ref().map(|d| d.0.as_str()),
            Some("sha256:abababababab")
        );
        assert!(r.detail.is_empty() && r.ok);
        let r = row(
            AuditEntry {
                detail: "why".into(),
                outcome: "failed".into(),
                ..e
            },
            1_000,
        );
        assert!(r.digest.is_none() && !r.ok);
        assert_eq!(r.detail, "why");
    }
}
