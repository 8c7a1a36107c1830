//! Manifests, their tags and the referrers index, written together.

use super::records::{decode, encode};
use super::tables::*;
use super::{ManifestRecord, Meta, Origin, PutManifest, PutOutcome, ReferrerRecord, StoreError};
use redb::{ReadableDatabase, ReadableTable};
use std::ops::Bound;

impl Meta {
    /// Store a manifest, its tag and its referrer entry in one transaction, after checking
    /// (inside that transaction) that everything it references is in the repository.
    pub fn put_manifest(&self, put: &PutManifest<'_>, now: u64) -> Result<PutOutcome, StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let repo_blobs = txn.open_table(REPO_BLOBS)?;
            for digest in put.required_blobs {
                if repo_blobs.get((put.repo, digest.as_str()))?.is_none() {
                    return Ok(PutOutcome::MissingBlob(digest.clone()));
                }
            }
            let mut manifests = txn.open_table(MANIFESTS)?;
            for digest in put.required_manifests {
                if manifests.get((put.repo, digest.as_str()))?.is_none() {
                    return Ok(PutOutcome::MissingManifest(digest.clone()));
                }
            }
            let key = (put.repo, put.digest);
            manifests.insert(key, encode(put.record)?.as_slice())?;
            txn.open_table(MANIFEST_BODIES)?.insert(key, put.body)?;
            let mut tags = txn.open_table(TAGS)?;
            for tag in put.tags {
                tags.insert((put.repo, tag.as_str()), put.digest)?;
                super::history::note(&txn, put.repo, tag, Some(put.digest), now)?;
            }
            if let (Some(subject), Some(referrer)) = (&put.record.subject, put.referrer) {
                txn.open_table(REFERRERS)?.insert(
                    (put.repo, subject.as_str(), put.digest),
                    encode(referrer)?.as_slice(),
                )?;
            }
            super::repos::ensure(&txn, put.repo, now)?;
        }
        txn.commit()?;
        Ok(PutOutcome::Stored)
    }

    pub fn manifest_record(
        &self,
        repo: &str,
        digest: &str,
    ) -> Result<Option<ManifestRecord>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(MANIFESTS)?;
        let value = table.get((repo, digest))?;
        value.map(|v| decode("manifests", v.value())).transpose()
    }

    /// A manifest's record and its bytes.
    pub fn manifest(
        &self,
        repo: &str,
        digest: &str,
    ) -> Result<Option<(ManifestRecord, Vec<u8>)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let records = txn.open_table(MANIFESTS)?;
        let Some(record) = records.get((repo, digest))? else {
            return Ok(None);
        };
        let record: ManifestRecord = decode("manifests", record.value())?;
        let bodies = txn.open_table(MANIFEST_BODIES)?;
        let body = bodies
            .get((repo, digest))?
            .ok_or_else(|| StoreError::Corrupt {
                table: "manifest_bodies",
                reason: format!("{repo}@{digest} has a record but no body"),
            })?
            .value()
            .to_vec();
        Ok(Some((record, body)))
    }

    /// Delete a manifest with every tag that points at it, its referrer entry, and every
    /// variant derived from it (transitively).
    pub fn delete_manifest(&self, repo: &str, digest: &str, now: u64) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut manifests = txn.open_table(MANIFESTS)?;
            if manifests.get((repo, digest))?.is_none() {
                return Ok(false);
            }
            let mut bodies = txn.open_table(MANIFEST_BODIES)?;
            let mut referrers = txn.open_table(REFERRERS)?;
            let mut variants = txn.open_table(VARIANTS)?;
            for tag in remove_tags_of(&mut txn.open_table(TAGS)?, repo, digest)? {
                super::history::note(&txn, repo, &tag, None, now)?;
            }
            let mut doomed = vec![digest.to_owned()];
            while let Some(d) = doomed.pop() {
                let record: ManifestRecord = match manifests.remove((repo, d.as_str()))? {
                    Some(old) => decode("manifests", old.value())?,
                    None => continue,
                };
                bodies.remove((repo, d.as_str()))?;
                if let Some(subject) = record.subject {
                    referrers.remove((repo, subject.as_str(), d.as_str()))?;
                }
                let mut made = Vec::new();
                for entry in variants.range::<(&str, &str, &str)>((repo, d.as_str(), "")..)? {
                    let (key, value) = entry?;
                    let (r, source, kind) = key.value();
                    if r != repo || source != d {
                        break;
                    }
                    made.push((kind.to_owned(), value.value().to_owned()));
                }
                for (kind, variant) in made {
                    variants.remove((repo, d.as_str(), kind.as_str()))?;
                    let derived_from_d = match manifests.get((repo, variant.as_str()))? {
                        Some(v) => matches!(
                            decode::<ManifestRecord>("manifests", v.value())?.origin,
                            Origin::Derived { ref source, .. } if *source == d
                        ),
                        None => false,
                    };
                    if derived_from_d {
                        doomed.push(variant);
                    }
                }
            }
        }
        txn.commit()?;
        Ok(true)
    }

    /// Every manifest in `repo` whose subject is `subject`, in digest order.
    pub fn referrers(&self, repo: &str, subject: &str) -> Result<Vec<ReferrerRecord>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(REFERRERS)?;
        let mut out = Vec::new();
        let lower = Bound::Included((repo, subject, ""));
        for entry in table.range::<(&str, &str, &str)>((lower, Bound::Unbounded))? {
            let (key, value) = entry?;
            let (key_repo, key_subject, _) = key.value();
            if key_repo != repo || key_subject != subject {
                break;
            }
            out.push(decode("referrers", value.value())?);
        }
        Ok(out)
    }
}

/// Remove every tag of `repo` that points at `digest`.
/// Remove every tag of `repo` that points at `digest`; returns them.
fn remove_tags_of(
    tags: &mut redb::Table<(&str, &str), &str>,
    repo: &str,
    digest: &str,
) -> Result<Vec<String>, StoreError> {
    let mut doomed = Vec::new();
    for entry in tags.range::<(&str, &str)>((repo, "")..)? {
        let (key, value) = entry?;
        let (key_repo, tag) = key.value();
        if key_repo != repo {
            break;
        }
        if value.value() == digest {
            doomed.push(tag.to_owned());
        }
    }
    for tag in &doomed {
        tags.remove((repo, tag.as_str()))?;
    }
    Ok(doomed)
}
