//! Reading, linking and unlinking blobs in a repository.

use super::{now_unix, Registry, RegistryError};
use crate::oci::schema1::from_schema2::EMPTY_LAYER_DIGEST;
use crate::oci::{Digest, RepoName};

/// The gzipped empty tar schema1 uses for metadata-only steps (docs/FORMATS.md section 2.6):
/// Go's gzip of 1024 zero bytes. Served from this constant in every repository.
pub const EMPTY_LAYER: [u8; 32] = [
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x09, 0x6e, 0x88, 0x00, 0xff, 0x62, 0x18, 0x05, 0xa3, 0x60, 0x14,
    0x8c, 0x58, 0x00, 0x08, 0x00, 0x00, 0xff, 0xff, 0x2e, 0xaf, 0xb5, 0xef, 0x00, 0x04, 0x00, 0x00,
];

/// A blob opened for reading.
pub struct BlobContent {
    pub digest: Digest,
    pub size: u64,
    pub body: BlobBody,
}

pub enum BlobBody {
    File(std::fs::File),
    Constant(&'static [u8]),
    /// Coming from an upstream as it is fetched (pull-through); its size when known.
    Stream {
        size: Option<u64>,
        body: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
    },
}

fn is_empty_layer(digest: &Digest) -> bool {
    digest.to_string() == EMPTY_LAYER_DIGEST
}

impl Registry {
    /// The size of a blob linked in `repo`, or of one its upstream has.
    pub async fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<u64, RegistryError> {
        match self.local_blob_size(repo, digest).await {
            Err(RegistryError::BlobUnknown(_)) => self
                .upstream_blob_size(repo, digest)
                .await?
                .ok_or_else(|| RegistryError::BlobUnknown(digest.to_string())),
            other => other,
        }
    }

    /// The size of a blob linked in `repo`.
    pub(super) async fn local_blob_size(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<u64, RegistryError> {
        if is_empty_layer(digest) {
            return Ok(EMPTY_LAYER.len() as u64);
        }
        let (r, d) = (repo.to_string(), digest.to_string());
        self.blocking(move |s| s.meta.repo_blob_size(&r, &d))
            .await?
            .ok_or_else(|| RegistryError::BlobUnknown(digest.to_string()))
    }

    /// Open a blob of `repo` for streaming; one its upstream has is fetched as it is sent.
    pub async fn open_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<BlobContent, RegistryError> {
        match self.open_local_blob(repo, digest).await {
            Err(RegistryError::BlobUnknown(_)) => self
                .fetch_blob(repo, digest)
                .await?
                .ok_or_else(|| RegistryError::BlobUnknown(digest.to_string())),
            other => other,
        }
    }

    /// Open a blob linked in `repo` for streaming: the lookup and the open are one trip to
    /// the blocking pool, since each trip costs as much as reading a small blob.
    pub(super) async fn open_local_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<BlobContent, RegistryError> {
        if is_empty_layer(digest) {
            return Ok(BlobContent {
                digest: digest.clone(),
                size: EMPTY_LAYER.len() as u64,
                body: BlobBody::Constant(&EMPTY_LAYER),
            });
        }
        let (r, d) = (repo.to_string(), digest.clone());
        let opened = self
            .blocking(move |s| match s.meta.repo_blob_size(&r, &d.to_string())? {
                Some(size) => Ok(Some((size, s.blobs.open(&d)?))),
                None => Ok(None),
            })
            .await?;
        let (size, file) = opened.ok_or_else(|| RegistryError::BlobUnknown(digest.to_string()))?;
        Ok(BlobContent {
            digest: digest.clone(),
            size,
            body: BlobBody::File(file),
        })
    }

    /// Stream `len` bytes of an opened blob file from `start`, within the shared read budget.
    pub fn stream_blob(
        &self,
        file: std::fs::File,
        start: u64,
        len: u64,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
        super::blob_stream::stream_file(&self.read_budget, file, start, len)
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

    /// Cross-repository mount: link `digest` into `repo` if it is linked in `from`, or,
    /// without `from`, if hoist holds it at all. `None` when it cannot, and the client
    /// should upload instead.
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: Option<&RepoName>,
    ) -> Result<Option<u64>, RegistryError> {
        let (r, d, f) = (
            repo.to_string(),
            digest.to_string(),
            from.map(|f| f.to_string()),
        );
        self.blocking(move |s| {
            let held = match &f {
                Some(f) => s.meta.repo_blob_size(f, &d)?,
                None => s.meta.blob_size(&d)?,
            };
            if held.is_none() {
                return Ok(None);
            }
            s.meta.link_blob(&r, &d, now_unix())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_layer_constant_has_its_digest() {
        assert_eq!(
            Digest::sha256_of(&EMPTY_LAYER).to_string(),
            EMPTY_LAYER_DIGEST
        );
    }
}
