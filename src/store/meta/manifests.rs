//! Manifests, their tags and the referrers index, written together.

use super::records::{decode, encode};
use super::tables::*;
use super::{ManifestRecord, Meta, PutManifest, PutOutcome, ReferrerRecord, StoreError};
use redb::{ReadableDatabase, ReadableTable};
use std::ops::Bound;

impl Meta {
    /// Store a manifest, its tag and its referrer entry in one transaction, after checking
    /// (inside that transaction) that everything it references is in the repository.
    pub fn put_manifest(&self, put: &PutManifest<'_>, now: u64) -> Result<PutOutcome, StoreError> {
        let txn = self.db.begin_write()?;
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
            if let Some(tag) = put.tag {
                txn.open_table(TAGS)?.insert((put.repo, tag), put.digest)?;
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
        let txn = self.db.begin_read()?;
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
        let txn = self.db.begin_read()?;
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

    /// Delete a manifest with every tag that points at it and its referrer entry.
    pub fn delete_manifest(&self, repo: &str, digest: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut manifests = txn.open_table(MANIFESTS)?;
            let record: ManifestRecord = match manifests.remove((repo, digest))? {
                Some(old) => decode("manifests", old.value())?,
                None => return Ok(false),
            };
            txn.open_table(MANIFEST_BODIES)?.remove((repo, digest))?;
            let mut tags = txn.open_table(TAGS)?;
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
            for tag in doomed {
                tags.remove((repo, tag.as_str()))?;
            }
            if let Some(subject) = record.subject {
                txn.open_table(REFERRERS)?
                    .remove((repo, subject.as_str(), digest))?;
            }
        }
        txn.commit()?;
        Ok(true)
    }

    /// Every manifest in `repo` whose subject is `subject`, in digest order.
    pub fn referrers(&self, repo: &str, subject: &str) -> Result<Vec<ReferrerRecord>, StoreError> {
        let txn = self.db.begin_read()?;
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
