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
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}
