//! The audit log: pushes, deletes, logins (and failures), and changes to permissions, users
//! and tokens, each with who, from which address, when and what. Kept in the store, read
//! through the JSON API, pruned by age.

use super::{Auth, AuthError};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Unix milliseconds.
    pub at: u64,
    pub who: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `login`, `push`, `delete`, `user.add`, `token.revoke`, `rule.add`, ...
    pub action: String,
    /// What it was done to: a repository and reference, a user, a token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// `ok`, `failed`, `denied`, `locked`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub who: Option<String>,
    pub action: Option<String>,
    /// Entries older than this (unix ms), for paging.
    pub before: Option<u64>,
    pub limit: usize,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Auth {
    /// Record something; a failure to record is logged, never fatal to the request.
    pub async fn audit(
        &self,
        who: &str,
        address: Option<IpAddr>,
        action: &str,
        target: &str,
        outcome: &str,
        detail: &str,
    ) {
        let entry = AuditEntry {
            at: now_ms(),
            who: who.to_owned(),
            address: address.map(|a| a.to_string()),
            action: action.to_owned(),
            target: target.to_owned(),
            outcome: outcome.to_owned(),
            detail: detail.to_owned(),
        };
        let Ok(bytes) = serde_json::to_vec(&entry) else {
            return;
        };
        let at = entry.at;
        if let Err(e) = Store::call(&self.store, move |s| s.meta.audit_append(at, &bytes)).await {
            tracing::warn!(error = %e, "writing the audit log failed");
        }
    }

    /// Entries newest first, filtered.
    pub async fn audit_log(&self, filter: AuditFilter) -> Result<Vec<AuditEntry>, AuthError> {
        let limit = filter.limit.clamp(1, 1000);
        let mut out = Vec::new();
        let mut before = filter.before;
        // Filters are applied while paging through the store, a bounded number of times.
        for _ in 0..20 {
            let page = Store::call(&self.store, move |s| s.meta.audit(before, 500)).await?;
            let Some(last) = page.last().map(|(at, _)| *at) else {
                break;
            };
            for (_, bytes) in &page {
                let entry: AuditEntry = super::records::decode("audit entry", bytes)?;
                let keep = filter.who.as_ref().is_none_or(|w| &entry.who == w)
                    && filter
                        .action
                        .as_ref()
                        .is_none_or(|a| entry.action.starts_with(a.as_str()));
                if keep {
                    out.push(entry);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            before = Some(last);
        }
        Ok(out)
    }

    /// Drop entries older than the retention; returns how many went.
    pub async fn prune_audit(&self) -> Result<u64, AuthError> {
        let cutoff = now_ms().saturating_sub(self.config.audit_retention.as_millis() as u64);
        Ok(Store::call(&self.store, move |s| s.meta.prune_audit(cutoff)).await?)
    }
}
