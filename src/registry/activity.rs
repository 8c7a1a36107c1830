//! What changed lately across the registry: tag changes newest first, each with where its
//! manifest came from (pushed, or synced from an upstream), for the dashboard.

use super::{Registry, RegistryError};
use crate::store::Origin;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct RecentChange {
    pub at: u64,
    pub repo: String,
    pub tag: String,
    /// `None` when the tag was deleted.
    pub digest: Option<String>,
    /// The upstream the manifest was mirrored from; `None` when it was pushed (or is gone).
    pub upstream: Option<String>,
}

impl Registry {
    /// The latest `n` tag changes across all repositories, newest first.
    pub async fn recent_changes(&self, n: usize) -> Result<Vec<RecentChange>, RegistryError> {
        self.blocking(move |s| {
            let mut out = Vec::with_capacity(n);
            for change in s.meta.recent_tag_changes(n)? {
                let upstream = match &change.digest {
                    Some(d) => match s.meta.manifest(&change.repo, d)? {
                        Some((record, _)) => match record.origin {
                            Origin::Synced { upstream, .. } => Some(upstream),
                            _ => None,
                        },
                        None => None,
                    },
                    None => None,
                };
                out.push(RecentChange {
                    at: change.at,
                    repo: change.repo,
                    tag: change.tag,
                    digest: change.digest,
                    upstream,
                });
            }
            Ok(out)
        })
        .await
    }
}
