//! The port through which the registry reaches content it lacks: a small trait the sync
//! layer implements and `app.rs` plugs in. The registry never names an upstream; it asks
//! whether one backs a repository, and lets the origin refresh a tag or open a blob.

use super::RegistryError;
use crate::oci::{Digest, Reference, RepoName};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

/// A blob as an upstream sends it.
pub struct UpstreamBlob {
    /// Its size, when the upstream said.
    pub size: Option<u64>,
    pub body: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

/// Where a request for a repository is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// The repository as named.
    AsNamed,
    /// Another local repository: an `ns=` request kept under its upstream's prefix, or a
    /// request for the default upstream (Docker's registry-mirrors).
    Local(RepoName),
}

pub trait Origin: Send + Sync {
    /// Whether an upstream backs `repo` (a mirror rule's local side or a pull-through
    /// prefix). Called on every manifest and blob request: it must be cheap.
    fn covers(&self, repo: &RepoName) -> bool;

    /// Where a request for `repo` goes: containerd names the registry it mirrors in `ns`;
    /// a request without it, for a repository nothing covers and hoist does not hold
    /// (`held` is false), goes to the default upstream.
    fn route(&self, repo: &RepoName, ns: Option<&str>, held: bool)
        -> Result<Routed, RegistryError>;

    /// Whether `route` could send `repo` elsewhere when hoist does not hold it (there is a
    /// default upstream); lets the caller skip the lookup of `held` otherwise.
    fn has_default(&self) -> bool;

    /// Bring `reference` of a covered `repo` up to date before it is served: within the
    /// freshness window nothing happens, after it one upstream HEAD decides; missing content
    /// is fetched. When the upstream cannot be reached the local copy stays as it is.
    fn refresh<'a>(
        &'a self,
        repo: &'a RepoName,
        reference: &'a Reference,
    ) -> BoxFuture<'a, Result<(), RegistryError>>;

    /// The size of `digest` at the upstream backing `repo` (a HEAD of a blob not fetched yet).
    fn blob_size<'a>(
        &'a self,
        repo: &'a RepoName,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<u64>, RegistryError>>;

    /// Open `digest` at the upstream backing `repo`; `None` when it does not have it.
    fn open_blob<'a>(
        &'a self,
        repo: &'a RepoName,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<UpstreamBlob>, RegistryError>>;
}
