//! Repositories, tags and catalog listings.

use super::tables::*;
use super::{Meta, Page, StoreError};
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use std::ops::Bound;

/// Make sure `repo` is in the catalog.
pub(super) fn ensure(txn: &WriteTransaction, repo: &str, now: u64) -> Result<(), StoreError> {
    let mut repos = txn.open_table(REPOS)?;
    if repos.get(repo)?.is_none() {
        repos.insert(repo, now)?;
    }
    Ok(())
}

impl Meta {
    pub fn repo_exists(&self, repo: &str) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_read()?;
        Ok(txn.open_table(REPOS)?.get(repo)?.is_some())
    }

    /// Repository names in order, after `last`, at most `n`.
    pub fn repos(&self, last: Option<&str>, n: usize) -> Result<Page, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(REPOS)?;
        let lower = match last {
            Some(l) => Bound::Excluded(l),
            None => Bound::Unbounded,
        };
        let mut items = Vec::new();
        for entry in table.range::<&str>((lower, Bound::Unbounded))? {
            let (key, _) = entry?;
            if items.len() == n {
                return Ok(Page { items, more: true });
            }
            items.push(key.value().to_owned());
        }
        Ok(Page { items, more: false })
    }

    pub fn tag(&self, repo: &str, tag: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(TAGS)?;
        Ok(table.get((repo, tag))?.map(|v| v.value().to_owned()))
    }

    /// Tags of `repo` in order, after `last`, at most `n`.
    pub fn tags(&self, repo: &str, last: Option<&str>, n: usize) -> Result<Page, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(TAGS)?;
        let lower = match last {
            Some(l) => Bound::Excluded((repo, l)),
            None => Bound::Included((repo, "")),
        };
        let mut items = Vec::new();
        for entry in table.range::<(&str, &str)>((lower, Bound::Unbounded))? {
            let (key, _) = entry?;
            let (key_repo, tag) = key.value();
            if key_repo != repo {
                break;
            }
            if items.len() == n {
                return Ok(Page { items, more: true });
            }
            items.push(tag.to_owned());
        }
        Ok(Page { items, more: false })
    }

    /// Remove a tag; the manifest it pointed at stays.
    pub fn delete_tag(&self, repo: &str, tag: &str, now: u64) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        let removed = txn.open_table(TAGS)?.remove((repo, tag))?.is_some();
        if removed {
            super::history::note(&txn, repo, tag, None, now)?;
        }
        txn.commit()?;
        Ok(removed)
    }
}
