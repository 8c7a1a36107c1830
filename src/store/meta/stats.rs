//! Figures for the console: how much the store holds, and each repository's tags with the
//! time each last changed.

use super::tables::*;
use super::{Meta, StoreError};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::Serialize;

/// How much the store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub repositories: u64,
    pub tags: u64,
    pub manifests: u64,
    pub blobs: u64,
    /// Bytes of every blob stored, each counted once.
    pub blob_bytes: u64,
}

impl Meta {
    pub fn counts(&self) -> Result<Counts, StoreError> {
        let txn = self.db()?.begin_read()?;
        let blobs = txn.open_table(BLOBS)?;
        let mut blob_bytes = 0u64;
        for entry in blobs.iter()? {
            blob_bytes = blob_bytes.saturating_add(entry?.1.value());
        }
        Ok(Counts {
            repositories: txn.open_table(REPOS)?.len()?,
            tags: txn.open_table(TAGS)?.len()?,
            manifests: txn.open_table(MANIFESTS)?.len()?,
            blobs: blobs.len()?,
            blob_bytes,
        })
    }

    /// Every repository with its number of tags and the time (unix seconds) a tag of it
    /// last changed (or its creation, when no tag ever did). One pass over the tables.
    pub fn repo_summaries(&self) -> Result<Vec<(String, u64, u64)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let repos = txn.open_table(REPOS)?;
        let tags = txn.open_table(TAGS)?;
        let history = txn.open_table(TAG_HISTORY)?;
        let mut out: Vec<(String, u64, u64)> = Vec::new();
        for entry in repos.iter()? {
            let (name, created) = entry?;
            out.push((name.value().to_owned(), 0, created.value()));
        }
        // Both tables are ordered by repository, as `out` is: walk them alongside.
        let mut i = 0;
        for entry in tags.iter()? {
            let (key, _) = entry?;
            let (repo, _) = key.value();
            while i < out.len() && out[i].0.as_str() < repo {
                i += 1;
            }
            if let Some(row) = out.get_mut(i).filter(|r| r.0 == repo) {
                row.1 += 1;
            }
        }
        let mut i = 0;
        for entry in history.iter()? {
            let (key, value) = entry?;
            let (repo, _, _) = key.value();
            while i < out.len() && out[i].0.as_str() < repo {
                i += 1;
            }
            if let Some(row) = out.get_mut(i).filter(|r| r.0 == repo) {
                if let Ok(event) =
                    super::records::decode::<super::TagEvent>("tag_history", value.value())
                {
                    row.2 = row.2.max(event.at);
                }
            }
        }
        Ok(out)
    }

    /// The tags of `repo` with their digests, in tag order.
    pub fn tag_digests(&self, repo: &str) -> Result<Vec<(String, String)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(TAGS)?;
        let mut out = Vec::new();
        for entry in table.range::<(&str, &str)>((repo, "")..)? {
            let (key, value) = entry?;
            let (r, tag) = key.value();
            if r != repo {
                break;
            }
            out.push((tag.to_owned(), value.value().to_owned()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::meta::{ManifestRecord, Origin, PutManifest};

    #[test]
    fn summaries_count_tags_and_find_the_last_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = Meta::open(&dir.path().join("m.redb")).expect("open");
        let record = ManifestRecord {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 2,
            subject: None,
            pushed_at: 1,
            origin: Origin::Pushed,
        };
        for (repo, tag, now) in [("a", "1", 10), ("a", "2", 30), ("b", "x", 20)] {
            let tags = vec![tag.to_owned()];
            m.put_manifest(
                &PutManifest {
                    repo,
                    digest: "sha256:m",
                    record: &record,
                    body: b"{}",
                    tags: &tags,
                    required_blobs: &[],
                    required_manifests: &[],
                    referrer: None,
                },
                now,
            )
            .expect("put");
        }
        assert_eq!(
            m.repo_summaries().expect("summaries"),
            vec![("a".into(), 2, 30), ("b".into(), 1, 20)]
        );
        let c = m.counts().expect("counts");
        assert_eq!((c.repositories, c.tags, c.manifests), (2, 3, 2));
        assert!(m.delete_tag("a", "2", 40).expect("delete"));
        let history = m.tag_history("a", "2", 10).expect("history");
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].digest, None);
        assert_eq!(history[1].digest.as_deref(), Some("sha256:m"));
        let recent = m.recent_tag_changes(3).expect("recent");
        let seen: Vec<(u64, &str, Option<&str>)> = recent
            .iter()
            .map(|c| (c.at, c.tag.as_str(), c.digest.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                (40, "2", None),
                (30, "2", Some("sha256:m")),
                (20, "x", Some("sha256:m"))
            ]
        );
    }
}
