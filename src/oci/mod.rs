//! Pure format logic: digests, names, tags, references, media types and manifest parsing.
//! No I/O, no async, and no imports from any other hoist module.

pub mod accept;
pub mod digest;
pub mod family;
pub mod gojson;
pub mod manifest;
pub mod media_types;
pub mod name;
pub mod negotiate;
#[cfg(test)]
mod negotiate_matrix;
pub mod reference;
pub mod tag;
#[cfg(test)]
mod test_fixtures;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use manifest::{Descriptor, Manifest, ManifestError, ManifestKind, Platform};
pub use name::{NameError, RepoName};
pub use reference::Reference;
pub use tag::{Tag, TagError};
pub mod schema1;
