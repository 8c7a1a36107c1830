//! Reading, linking and unlinking blobs in a repository.

use super::{now_unix, Registry, RegistryError};
use crate::oci::{Digest, RepoName};

/// A blob opened for reading.
pub struct BlobContent {
    pub digest: Digest,
    pub size: u64,
    pub file: std::fs::File,
}

impl Registry {
    /// The size of a blob linked in `repo`.
    pub async fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<u64, RegistryError> {
        let (r, d) = (repo.to_string(), digest.to_string());
        self.blocking(move |s| s.meta.repo_blob_size(&r, &d))
            .await?
            .ok_or_else(|| RegistryError::BlobUnknown(digest.to_string()))
    }

    /// Open a blob linked in `repo` for streaming.
    pub async fn open_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<BlobContent, RegistryError> {
        let size = self.blob_size(repo, digest).await?;
        let d = digest.clone();
        let file = self.blocking(move |s| Ok(s.blobs.open(&d)?)).await?;
        Ok(BlobContent {
            digest: digest.clone(),
            size,
            file,
        })
    }

    /// Unlink a blob from `repo`; its bytes stay while other repositories use them.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        let (r, d) = (repo.to_string(), digest.to_string());
        if self.blocking(move |s| s.meta.unlink_blob(&r, &d)).await? {
            Ok(())
        } else {
            Err(RegistryError::BlobUnknown(digest.to_string()))
        }
    }

    /// Cross-repository mount: link `digest` into `repo` if it is linked in `from`.
    /// `None` when it is not, and the client should upload instead.
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: &RepoName,
    ) -> Result<Option<u64>, RegistryError> {
        let (r, d, f) = (repo.to_string(), digest.to_string(), from.to_string());
        self.blocking(move |s| {
            if s.meta.repo_blob_size(&f, &d)?.is_none() {
                return Ok(None);
            }
            s.meta.link_blob(&r, &d, now_unix())
        })
        .await
    }
}
