//! Searching the audit log for the console: by who, action (a prefix: `user` finds
//! `user.add` and `user.remove`), repository (a name or a pattern) and outcome, within a
//! time window, newest first, a page at a time; and each user's last sign-in.

use super::audit::AuditEntry;
use super::rules::RepoGlob;
use super::{Auth, AuthError};
use crate::store::Store;
use std::collections::HashMap;
use std::ops::ControlFlow;

/// Entries read from the store at once.
const BATCH: usize = 500;
/// A search reads at most this many entries (the log keeps 90 days by default).
pub const SCAN_LIMIT: usize = 50_000;

/// Which entries to show.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Exactly this user (or `token:<name>`, `anonymous`).
    pub who: Option<String>,
    /// Actions starting with this.
    pub action: Option<String>,
    /// Targets in this repository, or in repositories matching this pattern (`team/*`).
    pub repo: Option<String>,
    /// `ok`, `failed`, `denied`, `locked`.
    pub outcome: Option<String>,
    /// Unix ms: entries at or after.
    pub since_ms: Option<u64>,
    /// Unix ms: entries before.
    pub until_ms: Option<u64>,
    /// Matching entries to skip (the pages before).
    pub offset: usize,
    pub limit: usize,
}

/// A page of matching entries.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// More entries match after these.
    pub more: bool,
    /// The search stopped at [`SCAN_LIMIT`] entries: older ones were not looked at.
    pub cut_short: bool,
}

/// The repository a target names: `team/app:v1` and `team/app@sha256:…` are in `team/app`.
fn target_repo(target: &str) -> &str {
    target.split([':', '@']).next().unwrap_or(target)
}

impl AuditQuery {
    pub fn matches(&self, e: &AuditEntry) -> bool {
        let repo_ok = match self.repo.as_deref() {
            None => true,
            Some(r) if r.contains('*') => RepoGlob::parse(r)
                .map(|g| g.matches(target_repo(&e.target)))
                .unwrap_or(false),
            Some(r) => target_repo(&e.target) == r,
        };
        self.who.as_ref().is_none_or(|w| &e.who == w)
            && self
                .action
                .as_ref()
                .is_none_or(|a| e.action.starts_with(a.as_str()))
            && self.outcome.as_ref().is_none_or(|o| &e.outcome == o)
            && self.since_ms.is_none_or(|s| e.at >= s)
            && self.until_ms.is_none_or(|u| e.at < u)
            && repo_ok
    }
}

impl Auth {
    /// Visit entries newest first, from before `until_ms`, until `visit` breaks or
    /// `max` entries were read; whether it stopped at `max`.
    async fn scan_audit(
        &self,
        until_ms: Option<u64>,
        max: usize,
        mut visit: impl FnMut(AuditEntry) -> ControlFlow<()>,
    ) -> Result<bool, AuthError> {
        let mut before = until_ms;
        let mut read = 0;
        loop {
            let batch = Store::call(&self.store, move |s| s.meta.audit(before, BATCH)).await?;
            let (Some(first), Some(last)) = (batch.first().map(|b| b.0), batch.last().map(|b| b.0))
            else {
                return Ok(false);
            };
            let full = batch.len() == BATCH;
            // Paging is by millisecond: a full batch may end inside one, so its entries of
            // that millisecond are read again with the next batch (unless the whole batch is
            // one millisecond, which cannot be split).
            let split = full && first != last;
            for (at, bytes) in batch {
                if split && at == last {
                    break;
                }
                read += 1;
                // An entry that does not decode is skipped: one bad record must not hide
                // the rest of the log.
                if let Ok(entry) = super::records::decode::<AuditEntry>("audit entry", &bytes) {
                    if visit(entry).is_break() {
                        return Ok(false);
                    }
                }
                if read >= max {
                    return Ok(true);
                }
            }
            if !full {
                return Ok(false);
            }
            before = Some(if split { last + 1 } else { last });
        }
    }

    /// The entries `query` selects, newest first.
    pub async fn audit_search(&self, query: &AuditQuery) -> Result<AuditPage, AuthError> {
        let limit = query.limit.clamp(1, 1000);
        let mut page = AuditPage::default();
        let mut skipped = 0;
        let since = query.since_ms;
        page.cut_short = self
            .scan_audit(query.until_ms, SCAN_LIMIT, |entry| {
                if since.is_some_and(|s| entry.at < s) {
                    return ControlFlow::Break(());
                }
                if !query.matches(&entry) {
                    return ControlFlow::Continue(());
                }
                if skipped < query.offset {
                    skipped += 1;
                } else if page.entries.len() < limit {
                    page.entries.push(entry);
                } else {
                    page.more = true;
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            })
            .await?;
        Ok(page)
    }

    /// Each user's last successful sign-in (unix seconds) among the newest `scan` entries.
    /// Basic credentials are remembered a minute, so a client's repeated requests count
    /// once.
    pub async fn last_logins(&self, scan: usize) -> Result<HashMap<String, u64>, AuthError> {
        let mut seen = HashMap::new();
        self.scan_audit(None, scan, |e| {
            if e.action == "login" && e.outcome == "ok" && !e.who.starts_with("token:") {
                seen.entry(e.who).or_insert(e.at / 1000);
            }
            ControlFlow::Continue(())
        })
        .await?;
        Ok(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthConfig;
    use std::sync::Arc;

    fn entry(at: u64, who: &str, action: &str, target: &str, outcome: &str) -> AuditEntry {
        AuditEntry {
            at,
            who: who.into(),
            address: None,
            action: action.into(),
            target: target.into(),
            outcome: outcome.into(),
            detail: String::new(),
        }
    }

    #[test]
    fn queries_match_who_action_prefix_repository_outcome_and_time() {
        let push = entry(5_000, "bob", "push", "team/app:v1", "ok");
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            q.matches(&push)
        };
        assert!(q(|_| {}));
        assert!(q(|q| q.who = Some("bob".into())));
        assert!(!q(|q| q.who = Some("bo".into())), "who is exact");
        assert!(q(|q| q.action = Some("pu".into())), "action is a prefix");
        assert!(!q(|q| q.action = Some("delete".into())));
        assert!(q(|q| q.repo = Some("team/app".into())));
        assert!(!q(|q| q.repo = Some("team".into())));
        assert!(q(|q| q.repo = Some("team/*".into())));
        assert!(!q(|q| q.repo = Some("other/*".into())));
        assert!(q(|q| q.outcome = Some("ok".into())));
        assert!(!q(|q| q.outcome = Some("failed".into())));
        assert!(q(|q| q.since_ms = Some(5_000)));
        assert!(!q(|q| q.since_ms = Some(5_001)));
        assert!(!q(|q| q.until_ms = Some(5_000)));
        let blob = entry(1, "bob", "delete", "team/app@sha256:abc", "ok");
        let q = AuditQuery {
            repo: Some("team/app".into()),
            ..AuditQuery::default()
        };
        assert!(q.matches(&blob));
    }

    #[tokio::test]
    async fn pages_hold_every_entry_once_even_across_a_shared_millisecond() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("store"));
        // 1203 entries, three per millisecond, so batches of 500 end inside one.
        for i in 0..1203u64 {
            let e = entry(1_000 + i / 3, &format!("u{}", i % 2), "login", "", "ok");
            let bytes = serde_json::to_vec(&e).expect("json");
            store.meta.audit_append(e.at, &bytes).expect("append");
        }
        let auth = Auth::new(Arc::clone(&store), AuthConfig::default())
            .await
            .expect("auth");
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let page = auth
                .audit_search(&AuditQuery {
                    offset,
                    limit: 100,
                    ..AuditQuery::default()
                })
                .await
                .expect("search");
            offset += page.entries.len();
            all.extend(page.entries);
            if !page.more {
                break;
            }
        }
        assert_eq!(all.len(), 1203);
        assert!(all.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
        let u1 = auth
            .audit_search(&AuditQuery {
                who: Some("u1".into()),
                since_ms: Some(1_300),
                limit: 1000,
                ..AuditQuery::default()
            })
            .await
            .expect("search");
        assert!(u1.entries.iter().all(|e| e.who == "u1" && e.at >= 1_300));
        assert_eq!(
            u1.entries.len(),
            (0..1203u64)
                .filter(|i| i % 2 == 1 && 1_000 + i / 3 >= 1_300)
                .count()
        );
        let logins = auth.last_logins(10_000).await.expect("logins");
        assert_eq!(
            logins.get("u0"),
            Some(&1),
            "its newest, 1400 ms, is second 1"
        );
        assert_eq!(logins.len(), 2);
    }
}
