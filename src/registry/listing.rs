//! Tag lists, the catalog and the referrers of a manifest.

use super::{Registry, RegistryError};
use crate::oci::{Digest, RepoName};
use crate::store::{Page, ReferrerRecord};

impl Registry {
    /// Tags of `repo` in lexical order, after `last`, at most `n`.
    pub async fn list_tags(
        &self,
        repo: &RepoName,
        last: Option<String>,
        n: usize,
    ) -> Result<Page, RegistryError> {
        let r = repo.to_string();
        let page = self
            .blocking(move |s| {
                if !s.meta.repo_exists(&r)? {
                    return Ok(None);
                }
                s.meta.tags(&r, last.as_deref(), n).map(Some)
            })
            .await?;
        page.ok_or_else(|| RegistryError::NameUnknown(repo.to_string()))
    }

    /// Repository names in lexical order, after `last`, at most `n`.
    pub async fn catalog(&self, last: Option<String>, n: usize) -> Result<Page, RegistryError> {
        self.blocking(move |s| s.meta.repos(last.as_deref(), n))
            .await
    }

    /// Manifests in `repo` whose subject is `subject`, optionally of one artifact type.
    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ReferrerRecord>, RegistryError> {
        let (r, d) = (repo.to_string(), subject.to_string());
        let mut all = self.blocking(move |s| s.meta.referrers(&r, &d)).await?;
        if let Some(wanted) = artifact_type {
            all.retain(|x| x.artifact_type.as_deref() == Some(wanted));
        }
        Ok(all)
    }
}
