//! Derived manifests (variants) and the diff_id cache.

use super::records::encode;
use super::tables::*;
use super::{Meta, PutVariant, StoreError};
use redb::{ReadableDatabase, ReadableTable};
use std::ops::Bound;

impl Meta {
    /// The digest of the `kind` variant of `source`, if it was made before.
    pub fn variant(
        &self,
        repo: &str,
        source: &str,
        kind: &str,
    ) -> Result<Option<String>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(VARIANTS)?;
        Ok(table
            .get((repo, source, kind))?
            .map(|v| v.value().to_owned()))
    }

    /// Every variant made of `source`: (kind, digest).
    pub fn variants_of(
        &self,
        repo: &str,
        source: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(VARIANTS)?;
        let mut out = Vec::new();
        let lower = Bound::Included((repo, source, ""));
        for entry in table.range::<(&str, &str, &str)>((lower, Bound::Unbounded))? {
            let (key, value) = entry?;
            let (r, s, kind) = key.value();
            if r != repo || s != source {
                break;
            }
            out.push((kind.to_owned(), value.value().to_owned()));
        }
        Ok(out)
    }

    /// Store a variant, its index entry and its new blob (if any) together.
    pub fn put_variant(&self, v: &PutVariant<'_>, now: u64) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let key = (v.repo, v.digest);
            let mut manifests = txn.open_table(MANIFESTS)?;
            // The same bytes may already be there (pushed, or another path to the same form).
            if manifests.get(key)?.is_none() {
                manifests.insert(key, encode(v.record)?.as_slice())?;
                txn.open_table(MANIFEST_BODIES)?.insert(key, v.body)?;
            }
            txn.open_table(VARIANTS)?
                .insert((v.repo, v.source, v.kind), v.digest)?;
            if let Some((blob, size)) = v.blob {
                txn.open_table(BLOBS)?.insert(blob, size)?;
                txn.open_table(REPO_BLOBS)?.insert((v.repo, blob), size)?;
            }
            super::repos::ensure(&txn, v.repo, now)?;
        }
        txn.commit()?;
        Ok(())
    }

    pub fn diff_id(&self, blob: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(DIFF_IDS)?;
        Ok(table.get(blob)?.map(|v| v.value().to_owned()))
    }

    pub fn set_diff_id(&self, blob: &str, diff_id: &str) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(DIFF_IDS)?.insert(blob, diff_id)?;
        txn.commit()?;
        Ok(())
    }
}
