//! What can go wrong in a registry operation, with what a message needs.

use crate::oci::{DigestError, NameError, TagError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    NameInvalid(#[from] NameError),
    #[error("repository {0} is not known")]
    NameUnknown(String),
    #[error(transparent)]
    TagInvalid(#[from] TagError),
    #[error(transparent)]
    DigestInvalid(#[from] DigestError),
    #[error("content digest {actual} does not match the digest given, {expected}")]
    DigestMismatch { expected: String, actual: String },
    #[error("blob {0} is not known in this repository")]
    BlobUnknown(String),
    #[error("upload {0} is not known in this repository")]
    BlobUploadUnknown(String),
    #[error("upload failed: {0}")]
    BlobUploadInvalid(String),
    #[error("chunk starts at {start}, but the upload has {offset} bytes")]
    ChunkOutOfOrder { start: u64, offset: u64 },
    #[error("Content-Range covers {declared} bytes, but the chunk has {received}; it is not kept")]
    ChunkLengthMismatch { declared: u64, received: u64 },
    /// The client stopped sending its body; the message says what was kept of it.
    #[error("{0}")]
    BodyStalled(String),
    #[error("{0}")]
    InsufficientStorage(String),
    /// Content hoist does not hold and the upstream backing the repository could not give.
    #[error("{0}")]
    UpstreamUnavailable(String),
    /// The manifest exists, but not in a form this client reads and hoist can make (a
    /// 404 MANIFEST_UNKNOWN whose message says why).
    #[error("{0}")]
    Unconvertible(String),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest signature does not verify: {0}")]
    ManifestUnverified(String),
    #[error("manifest references {0}, which is not in this repository")]
    ManifestBlobUnknown(String),
    #[error("manifest {0} is not known in this repository")]
    ManifestUnknown(String),
    #[error("manifest is larger than the limit of {limit} bytes")]
    ManifestTooLarge { limit: usize },
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        if e.is_no_space() {
            return RegistryError::InsufficientStorage(format!(
                "insufficient storage: the disk holding hoist's data is full ({e})"
            ));
        }
        RegistryError::Store(e)
    }
}
