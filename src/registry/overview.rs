//! What the console shows of the registry: figures, repositories with their tag counts and
//! last changes, a repository's tags with sizes and platforms, a tag's history, and a
//! manifest's layers, config and children. Reads only.

use super::resolve::{walk_stored, Walked};
use super::{Registry, RegistryError};
use crate::oci::accept::Accept;
use crate::oci::negotiate::{next_step, Addressed, Step};
use crate::oci::{Digest, Manifest, ManifestKind, Reference, RepoName, Tag};
/// The store's figures an overview carries, named here so the edges need not reach into store.
pub use crate::store::{Counts, DiskSpace};
use crate::store::{Origin, Store, StoreError, TagEvent};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Configs bigger than this are not read for display.
const CONFIG_LIMIT: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub counts: Counts,
    pub disk: DiskSpace,
    pub uploads_bytes: u64,
    pub storage_reserve: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoSummary {
    pub name: String,
    pub tags: u64,
    /// Unix seconds of the last tag change (or the repository's creation).
    pub last_change: u64,
}

/// A tag as a repository's page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct TagRow {
    pub tag: String,
    pub digest: String,
    pub media_type: String,
    /// `image`, `list` or `schema1`.
    pub kind: &'static str,
    /// Bytes a pull of it moves: config and layers of an image; for a list, of its stored
    /// children together.
    pub size: u64,
    /// `os/arch[/variant]` of a list's entries.
    pub platforms: Vec<String>,
    pub last_change: Option<u64>,
    /// The upstream it was mirrored from.
    pub upstream: Option<String>,
}

/// One page of a repository's tags, filtered by name.
#[derive(Debug, Clone, Serialize)]
pub struct TagPage {
    /// Tags in the repository.
    pub total: usize,
    /// Tags whose name contains the filter.
    pub matched: usize,
    /// The page's rows, in tag order.
    pub rows: Vec<TagRow>,
}

/// One change of a tag, with whether the manifest it pointed at is still stored.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub at: u64,
    /// `None`: the tag was deleted then.
    pub digest: Option<String>,
    pub stored: bool,
}

/// What a client with some `Accept` header gets for a tag, from the same walk a pull takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ClientForm {
    /// These stored bytes.
    Served { digest: String, media_type: String },
    /// A form not made yet: the first such pull makes it (`step` of `from`) and gets a
    /// manifest of kind `result`.
    NotMade {
        from: String,
        step: String,
        result: String,
    },
    /// Nothing it can read: 404 saying why.
    Refused { reason: String },
}

/// A descriptor as pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub platform: Option<String>,
}

/// A manifest as its page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestView {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub kind: &'static str,
    /// `pushed`, `synced from <upstream>`, or `derived from <digest> by <transform>`.
    pub origin: String,
    /// The manifest it was made from, when it is a variant.
    pub derived_from: Option<String>,
    /// Unix seconds it was stored.
    pub pushed_at: u64,
    /// Tags of the repository pointing at it.
    pub tags: Vec<String>,
    /// Forms made of it: (kind, digest).
    pub variants: Vec<(String, String)>,
    pub config: Option<Part>,
    pub layers: Vec<Part>,
    pub children: Vec<Part>,
    pub subject: Option<String>,
    pub annotations: Vec<(String, String)>,
    pub body: String,
}

/// Repository summaries, kept until the next write.
#[derive(Default)]
pub(super) struct SummaryCache {
    cached: Mutex<Option<(u64, Arc<Vec<RepoSummary>>)>>,
}

fn kind_of(kind: ManifestKind) -> &'static str {
    match kind {
        ManifestKind::Schema1 => "schema1",
        ManifestKind::DockerList | ManifestKind::OciIndex => "list",
        ManifestKind::Schema2 | ManifestKind::OciManifest => "image",
    }
}

fn platform_text(p: &crate::oci::Platform) -> String {
    p.to_string()
}

impl Registry {
    pub async fn overview(&self) -> Result<Overview, RegistryError> {
        let (counts, disk) = self
            .blocking(|s| Ok((s.meta.counts()?, s.disk_space()?)))
            .await?;
        Ok(Overview {
            counts,
            disk,
            uploads_bytes: self.upload_space.in_progress(),
            storage_reserve: self.upload_space.reserve(),
        })
    }

    /// Every repository with its tag count and last change, from one pass over the store,
    /// kept until the next write.
    pub async fn repo_summaries(&self) -> Result<Arc<Vec<RepoSummary>>, RegistryError> {
        let generation = self.manifest_cache.generation();
        if let Some((g, list)) = self
            .summaries
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            if *g == generation {
                return Ok(Arc::clone(list));
            }
        }
        let rows = self.blocking(|s| s.meta.repo_summaries()).await?;
        let list: Arc<Vec<RepoSummary>> = Arc::new(
            rows.into_iter()
                .map(|(name, tags, last_change)| RepoSummary {
                    name,
                    tags,
                    last_change,
                })
                .collect(),
        );
        *self
            .summaries
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((generation, Arc::clone(&list)));
        Ok(list)
    }

    /// The tags of `repo`, each with its size, platforms and last change.
    pub async fn tag_rows(&self, repo: &RepoName) -> Result<Vec<TagRow>, RegistryError> {
        Ok(self
            .tag_page(repo, "", 0, usize::MAX)
            .await?
            .map(|page| page.rows)
            .unwrap_or_default())
    }

    /// The tags of `repo` whose name contains `filter` (any case), `limit` of them from
    /// `offset`, with their sizes, platforms and last changes; `None` when there is no such
    /// repository. One trip to the blocking pool, and only the page's tags are looked into,
    /// so a repository with thousands of tags costs what one page of them does.
    pub async fn tag_page(
        &self,
        repo: &RepoName,
        filter: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Option<TagPage>, RegistryError> {
        let (r, filter) = (repo.to_string(), filter.to_lowercase());
        self.blocking(move |s| {
            if !s.meta.repo_exists(&r)? {
                return Ok(None);
            }
            let all = s.meta.tag_digests(&r)?;
            let total = all.len();
            let matched: Vec<(String, String)> = all
                .into_iter()
                .filter(|(tag, _)| filter.is_empty() || tag.to_lowercase().contains(&filter))
                .collect();
            let mut shapes = HashMap::new();
            let mut rows = Vec::new();
            for (tag, digest) in matched.iter().skip(offset).take(limit) {
                let Some(shape) = shape_of(s, &r, digest, &mut shapes)? else {
                    continue;
                };
                let last_change = s.meta.tag_history(&r, tag, 1)?.first().map(|e| e.at);
                rows.push(TagRow {
                    tag: tag.clone(),
                    digest: digest.clone(),
                    media_type: shape.media_type,
                    kind: shape.kind,
                    size: shape.size,
                    platforms: shape.platforms,
                    last_change,
                    upstream: shape.upstream,
                });
            }
            Ok(Some(TagPage {
                total,
                matched: matched.len(),
                rows,
            }))
        })
        .await
    }

    /// A tag's changes, newest first.
    pub async fn tag_history(
        &self,
        repo: &RepoName,
        tag: &str,
        n: usize,
    ) -> Result<Vec<TagEvent>, RegistryError> {
        let (r, t) = (repo.to_string(), tag.to_owned());
        self.blocking(move |s| s.meta.tag_history(&r, &t, n)).await
    }

    /// A tag's changes, newest first, each saying whether its manifest is still stored
    /// (so a page links only to what opens).
    pub async fn tag_history_entries(
        &self,
        repo: &RepoName,
        tag: &str,
        n: usize,
    ) -> Result<Vec<HistoryEntry>, RegistryError> {
        let (r, t) = (repo.to_string(), tag.to_owned());
        self.blocking(move |s| {
            let mut out = Vec::new();
            for event in s.meta.tag_history(&r, &t, n)? {
                let stored = match &event.digest {
                    Some(d) => s.meta.manifest_record(&r, d)?.is_some(),
                    None => false,
                };
                out.push(HistoryEntry {
                    at: event.at,
                    digest: event.digest,
                    stored,
                });
            }
            Ok(out)
        })
        .await
    }

    /// What a pull of `tag` gets with each of `accepts`, from the walk pulls take over what
    /// is stored. Nothing is made: a form no client asked for yet says so.
    pub async fn client_forms(
        &self,
        repo: &RepoName,
        tag: &Tag,
        accepts: Vec<Accept>,
    ) -> Result<Vec<ClientForm>, RegistryError> {
        let (r, reference) = (repo.to_string(), Reference::Tag(tag.clone()));
        let platform = self.config.default_platform.clone();
        self.blocking(move |s| {
            let mut out = Vec::new();
            for accept in &accepts {
                out.push(match walk_stored(s, &r, &reference, accept, &platform)? {
                    Walked::Serve(c) => ClientForm::Served {
                        digest: c.digest.to_string(),
                        media_type: c.media_type,
                    },
                    Walked::Make(c, step) => ClientForm::NotMade {
                        from: c.digest.to_string(),
                        step: step_text(step).to_owned(),
                        result: predicted(step, accept),
                    },
                    Walked::Fail(e) => ClientForm::Refused {
                        reason: e.to_string(),
                    },
                });
            }
            Ok(out)
        })
        .await
    }

    /// A manifest of `repo` as its page shows it.
    pub async fn manifest_view(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<ManifestView>, RegistryError> {
        let (r, d) = (repo.to_string(), digest.to_string());
        let found = self
            .blocking(move |s| {
                let Some(found) = s.meta.manifest(&r, &d)? else {
                    return Ok(None);
                };
                let tags: Vec<String> = s
                    .meta
                    .tag_digests(&r)?
                    .into_iter()
                    .filter(|(_, digest)| *digest == d)
                    .map(|(tag, _)| tag)
                    .collect();
                Ok(Some((found, tags, s.meta.variants_of(&r, &d)?)))
            })
            .await?;
        let Some(((record, body), tags, variants)) = found else {
            return Ok(None);
        };
        let parsed = Manifest::parse(&body, Some(&record.media_type)).ok();
        let part = |d: &crate::oci::Descriptor| Part {
            digest: d.digest.to_string(),
            media_type: d.media_type.clone(),
            size: d.size,
            platform: d.platform.as_ref().map(platform_text),
        };
        let (origin, derived_from) = match &record.origin {
            Origin::Pushed => ("pushed".to_owned(), None),
            Origin::Synced {
                upstream,
                repository,
            } => (format!("synced from {upstream} ({repository})"), None),
            Origin::Derived {
                source,
                transform,
                version,
            } => (
                format!("derived from {source} by {transform} v{version}"),
                Some(source.clone()),
            ),
        };
        Ok(Some(ManifestView {
            digest: digest.to_string(),
            media_type: record.media_type.clone(),
            size: record.size,
            kind: parsed.as_ref().map_or("image", |m| kind_of(m.kind)),
            origin,
            derived_from,
            pushed_at: record.pushed_at,
            tags,
            variants,
            config: parsed.as_ref().and_then(|m| m.config.as_ref().map(part)),
            layers: parsed
                .as_ref()
                .map(|m| m.layers.iter().map(part).collect())
                .unwrap_or_default(),
            children: parsed
                .as_ref()
                .map(|m| m.manifests.iter().map(part).collect())
                .unwrap_or_default(),
            subject: record.subject.clone(),
            annotations: parsed
                .and_then(|m| m.annotations)
                .map(|a| a.into_iter().collect())
                .unwrap_or_default(),
            body: String::from_utf8_lossy(&body).into_owned(),
        }))
    }

    /// An image's config, parsed, when it is stored and small enough (a config that cannot
    /// be read is not an error for a page that shows it: it is just not shown).
    pub async fn image_config(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<serde_json::Value>, RegistryError> {
        let Ok(size) = self.local_blob_size(repo, digest).await else {
            return Ok(None);
        };
        if size > CONFIG_LIMIT {
            return Ok(None);
        }
        let d = digest.clone();
        let bytes = self
            .blocking(move |s| Ok(std::fs::read(s.blobs.path(&d)).ok()))
            .await?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }
}

/// What a tag row shows of a manifest, worked out once per digest.
#[derive(Clone)]
struct Shape {
    media_type: String,
    kind: &'static str,
    size: u64,
    platforms: Vec<String>,
    upstream: Option<String>,
}

/// The shape of manifest `digest` of `repo` (`None` if it is not stored), remembered in
/// `seen`: tags often share manifests, and lists share children.
fn shape_of(
    s: &Store,
    repo: &str,
    digest: &str,
    seen: &mut HashMap<String, Option<Shape>>,
) -> Result<Option<Shape>, StoreError> {
    if let Some(shape) = seen.get(digest) {
        return Ok(shape.clone());
    }
    let shape = match s.meta.manifest(repo, digest)? {
        None => None,
        Some((record, body)) => {
            let parsed = Manifest::parse(&body, Some(&record.media_type)).ok();
            let (kind, size, platforms) = match &parsed {
                Some(m) if m.kind.is_index() => {
                    let mut size = 0;
                    for child in &m.manifests {
                        let child = child.digest.to_string();
                        if let Some(c) =
                            shape_of(s, repo, &child, seen)?.filter(|c| c.kind != "list")
                        {
                            size += c.size;
                        }
                    }
                    let platforms = m
                        .manifests
                        .iter()
                        .filter_map(|c| c.platform.as_ref().map(platform_text))
                        .collect();
                    ("list", size, platforms)
                }
                Some(m) => (
                    kind_of(m.kind),
                    m.config.iter().chain(&m.layers).map(|d| d.size).sum(),
                    Vec::new(),
                ),
                None => ("image", record.size, Vec::new()),
            };
            let upstream = match record.origin {
                Origin::Synced { upstream, .. } => Some(upstream),
                _ => None,
            };
            Some(Shape {
                media_type: record.media_type,
                kind,
                size,
                platforms,
                upstream,
            })
        }
    };
    seen.insert(digest.to_owned(), shape.clone());
    Ok(shape)
}

/// A conversion step in words.
fn step_text(step: Step) -> &'static str {
    match step {
        Step::MapTo(ManifestKind::Schema2) => "mapped to Docker schema 2",
        Step::MapTo(ManifestKind::DockerList) => "mapped to a Docker manifest list",
        Step::MapTo(ManifestKind::OciManifest) => "mapped to an OCI manifest",
        Step::MapTo(ManifestKind::OciIndex) => "mapped to an OCI index",
        Step::MapTo(ManifestKind::Schema1) | Step::ToSchema1 => "converted to signed schema 1",
        Step::UpConvert => "converted up to Docker schema 2",
        Step::Serve | Step::PlatformChild | Step::Unavailable => "served",
    }
}

/// The media type a pull ends with after making `step`'s form: the walk goes on from the
/// step's result by kind alone, as it will once the form exists.
fn predicted(step: Step, accept: &Accept) -> String {
    let mut kind = match step {
        Step::MapTo(k) => k,
        Step::UpConvert => ManifestKind::Schema2,
        _ => ManifestKind::Schema1,
    };
    for _ in 0..6 {
        kind = match next_step(kind, accept, Addressed::ByTag, true) {
            Step::MapTo(k) => k,
            Step::UpConvert => ManifestKind::Schema2,
            Step::ToSchema1 => ManifestKind::Schema1,
            Step::Serve | Step::PlatformChild | Step::Unavailable => break,
        };
    }
    media_type_of(kind).to_owned()
}

fn media_type_of(kind: ManifestKind) -> &'static str {
    use crate::oci::media_types as mt;
    match kind {
        ManifestKind::Schema1 => mt::DOCKER_SCHEMA1_SIGNED,
        ManifestKind::Schema2 => mt::DOCKER_SCHEMA2,
        ManifestKind::DockerList => mt::DOCKER_LIST,
        ManifestKind::OciManifest => mt::OCI_MANIFEST,
        ManifestKind::OciIndex => mt::OCI_INDEX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::media_types as mt;
    use crate::registry::RegistryConfig;
    use bytes::Bytes;

    fn registry(dir: &std::path::Path) -> Arc<Registry> {
        let store = Arc::new(Store::open(dir).expect("store"));
        Registry::new(store, RegistryConfig::default()).expect("registry")
    }

    /// An OCI image whose blobs are not stored (sparse manifests are accepted).
    fn image(n: u8) -> Bytes {
        let d = |b: u8| format!("sha256:{}", hex::encode([b; 32]));
        Bytes::from(
            serde_json::json!({
                "schemaVersion": 2,
                "mediaType": mt::OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d(n), "size": 100},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d(n + 1), "size": 1000}],
            })
            .to_string(),
        )
    }

    async fn push(r: &Registry, repo: &RepoName, tag: &str, body: Bytes) -> Digest {
        r.put_manifest(
            repo,
            &Reference::Tag(Tag::parse(tag).expect("tag")),
            &[],
            Some(mt::OCI_MANIFEST),
            body,
        )
        .await
        .expect("push")
        .digest
    }

    #[tokio::test]
    async fn tag_pages_filter_and_cut_and_know_unknown_repositories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = registry(dir.path());
        let repo = RepoName::parse("team/app").expect("name");
        let one = push(&r, &repo, "v1", image(1)).await;
        for tag in ["v2", "v3", "latest", "V10"] {
            push(&r, &repo, tag, image(1)).await;
        }
        let page = r
            .tag_page(&repo, "", 0, 2)
            .await
            .expect("page")
            .expect("repo");
        assert_eq!((page.total, page.matched, page.rows.len()), (5, 5, 2));
        assert_eq!(page.rows[0].tag, "V10");
        assert_eq!(page.rows[0].digest, one.to_string());
        assert_eq!((page.rows[0].kind, page.rows[0].size), ("image", 1100));
        assert!(page.rows[0].last_change.is_some());
        let page = r
            .tag_page(&repo, "v", 1, 10)
            .await
            .expect("page")
            .expect("repo");
        assert_eq!(page.matched, 4, "any case");
        let tags: Vec<&str> = page.rows.iter().map(|t| t.tag.as_str()).collect();
        assert_eq!(tags, ["v1", "v2", "v3"]);
        let none = RepoName::parse("team/none").expect("name");
        assert!(r.tag_page(&none, "", 0, 10).await.expect("page").is_none());
    }

    #[tokio::test]
    async fn client_forms_follow_the_pull_walk_and_agree_with_a_pull() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = registry(dir.path());
        let repo = RepoName::parse("team/app").expect("name");
        let tag = Tag::parse("1").expect("tag");
        let oci = push(&r, &repo, "1", image(1)).await;
        let accepts = vec![
            Accept::parse([mt::OCI_MANIFEST]),
            Accept::parse([mt::DOCKER_SCHEMA2]),
            Accept::parse([]),
            Accept::parse(["text/plain"]),
        ];
        let forms = r
            .client_forms(&repo, &tag, accepts.clone())
            .await
            .expect("forms");
        assert_eq!(
            forms[0],
            ClientForm::Served {
                digest: oci.to_string(),
                media_type: mt::OCI_MANIFEST.into()
            }
        );
        assert_eq!(
            forms[1],
            ClientForm::NotMade {
                from: oci.to_string(),
                step: "mapped to Docker schema 2".into(),
                result: mt::DOCKER_SCHEMA2.into()
            }
        );
        // Old Docker: mapped first, then signed as schema 1.
        assert!(
            matches!(&forms[2], ClientForm::NotMade { result, .. } if result == mt::DOCKER_SCHEMA1_SIGNED),
            "{:?}",
            forms[2]
        );
        assert!(
            matches!(&forms[3], ClientForm::NotMade { .. }),
            "text/plain reads nothing; old-Docker rules apply: {:?}",
            forms[3]
        );
        // Once a pull made the schema 2 form, the table names the digest that pull got.
        let pulled = r
            .resolve_manifest(&repo, &Reference::Tag(tag.clone()), &accepts[1])
            .await
            .expect("pull");
        let forms = r.client_forms(&repo, &tag, accepts).await.expect("forms");
        assert_eq!(
            forms[1],
            ClientForm::Served {
                digest: pulled.digest.to_string(),
                media_type: mt::DOCKER_SCHEMA2.into()
            }
        );
        let view = r
            .manifest_view(&repo, &oci)
            .await
            .expect("view")
            .expect("stored");
        assert_eq!(view.tags, ["1"]);
        assert_eq!(
            view.variants,
            [("map:docker".to_owned(), pulled.digest.to_string())]
        );
        let variant = r
            .manifest_view(&repo, &pulled.digest)
            .await
            .expect("view")
            .expect("stored");
        assert_eq!(variant.derived_from, Some(oci.to_string()));
    }

    #[tokio::test]
    async fn history_entries_say_which_manifests_are_still_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = registry(dir.path());
        let repo = RepoName::parse("a").expect("name");
        let one = push(&r, &repo, "t", image(1)).await;
        let two = push(&r, &repo, "t", image(3)).await;
        r.delete_manifest(&repo, &Reference::Digest(one.clone()))
            .await
            .expect("delete");
        r.delete_manifest(&repo, &Reference::Tag(Tag::parse("t").expect("tag")))
            .await
            .expect("delete tag");
        let h = r
            .tag_history_entries(&repo, "t", 10)
            .await
            .expect("history");
        let seen: Vec<(Option<String>, bool)> =
            h.iter().map(|e| (e.digest.clone(), e.stored)).collect();
        assert_eq!(
            seen,
            [
                (None, false),
                (Some(two.to_string()), true),
                (Some(one.to_string()), false)
            ]
        );
    }
}
