//! Every form a tag has in the store: the manifest it points at, the variants made of it,
//! and, for lists and indexes, each child with its variants.

use super::{Registry, RegistryError};
use crate::oci::{Manifest, Reference, RepoName, Tag};
use crate::store::Origin;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct VariantInfo {
    /// `source`, `child`, or the variant kind (`schema1:<tag>`, `map:oci`, `schema2`, ...).
    pub kind: String,
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    /// The manifest this one was made from (derived) or belongs to (child).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transform_version: Option<u32>,
    /// The upstream it was mirrored from, byte for byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

impl Registry {
    pub async fn tag_variants(
        &self,
        repo: &RepoName,
        tag: &Tag,
    ) -> Result<Vec<VariantInfo>, RegistryError> {
        let root = self
            .resolve_digest(repo, &Reference::Tag(tag.clone()))
            .await?;
        let r = repo.to_string();
        self.blocking(move |s| {
            let mut out: Vec<VariantInfo> = Vec::new();
            let mut queue = vec![(root.to_string(), "source".to_owned(), None::<String>)];
            while let Some((digest, kind, parent)) = queue.pop() {
                if out.iter().any(|v| v.digest == digest) {
                    continue;
                }
                let Some((record, body)) = s.meta.manifest(&r, &digest)? else {
                    continue;
                };
                let (source, transform, transform_version, upstream) = match record.origin {
                    Origin::Pushed => (parent, None, None, None),
                    Origin::Synced { upstream, .. } => (parent, None, None, Some(upstream)),
                    Origin::Derived {
                        source,
                        transform,
                        version,
                    } => (Some(source), Some(transform), Some(version), None),
                };
                if let Ok(m) = Manifest::parse(&body, Some(&record.media_type)) {
                    for child in m.manifests.iter().rev() {
                        queue.push((
                            child.digest.to_string(),
                            "child".into(),
                            Some(digest.clone()),
                        ));
                    }
                }
                for (variant_kind, variant) in s.meta.variants_of(&r, &digest)?.into_iter().rev() {
                    queue.push((variant, variant_kind, Some(digest.clone())));
                }
                out.push(VariantInfo {
                    kind,
                    media_type: record.media_type,
                    digest,
                    size: record.size,
                    source,
                    transform,
                    transform_version,
                    upstream,
                });
            }
            Ok(out)
        })
        .await
    }
}

/// Parse `repo:tag` as the CLI takes it.
pub fn parse_repo_tag(s: &str) -> Result<(RepoName, Tag), RegistryError> {
    let (repo, tag) = s.rsplit_once(':').unwrap_or((s, "latest"));
    Ok((RepoName::parse(repo)?, Tag::parse(tag)?))
}
