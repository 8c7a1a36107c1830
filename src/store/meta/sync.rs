//! What the sync worker keeps: upstreams, mirror rules and proxies made through the API,
//! runs and their events, mirrored tags, and half-fetched blobs. Values are the sync's own
//! JSON, opaque here; a mirrored tag is written together with its `tags` entry.

use super::tables::*;
use super::{Meta, PutOutcome, PutSyncedTag, StoreError};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::ops::Bound;

/// Which kind of settings a name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsKind {
    Upstream,
    Mirror,
    Proxy,
}

impl SettingsKind {
    fn table(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            SettingsKind::Upstream => UPSTREAMS,
            SettingsKind::Mirror => MIRRORS,
            SettingsKind::Proxy => PROXIES,
        }
    }
}

impl Meta {
    pub fn settings(&self, kind: SettingsKind) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(kind.table())?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    pub fn put_settings(
        &self,
        kind: SettingsKind,
        name: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(kind.table())?.insert(name, value)?;
        txn.commit()?;
        Ok(())
    }

    pub fn delete_settings(&self, kind: SettingsKind, name: &str) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        let removed = txn.open_table(kind.table())?.remove(name)?.is_some();
        txn.commit()?;
        Ok(removed)
    }

    /// Store a new run; returns its id (one more than the newest).
    pub fn create_run(&self, record: &[u8]) -> Result<u64, StoreError> {
        let txn = self.db()?.begin_write()?;
        let id = {
            let mut runs = txn.open_table(SYNC_RUNS)?;
            let id = runs.last()?.map_or(1, |(k, _)| k.value() + 1);
            runs.insert(id, record)?;
            id
        };
        txn.commit()?;
        Ok(id)
    }

    pub fn put_run(&self, id: u64, record: &[u8]) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(SYNC_RUNS)?.insert(id, record)?;
        txn.commit()?;
        Ok(())
    }

    pub fn run(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let runs = txn.open_table(SYNC_RUNS)?;
        Ok(runs.get(id)?.map(|v| v.value().to_vec()))
    }

    /// Runs newest first, below `before` (all when `None`), at most `n`.
    pub fn runs(&self, before: Option<u64>, n: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let runs = txn.open_table(SYNC_RUNS)?;
        let upper = before.map_or(Bound::Unbounded, Bound::Excluded);
        let mut out = Vec::new();
        for entry in runs.range::<u64>((Bound::Unbounded, upper))?.rev() {
            if out.len() == n {
                break;
            }
            let (k, v) = entry?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Delete runs older than the newest `keep`, with their events.
    pub fn prune_runs(&self, keep: usize) -> Result<usize, StoreError> {
        let txn = self.db()?.begin_write()?;
        let removed = {
            let mut runs = txn.open_table(SYNC_RUNS)?;
            let ids: Vec<u64> = runs
                .iter()?
                .rev()
                .skip(keep)
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            let mut events = txn.open_table(SYNC_EVENTS)?;
            for id in &ids {
                runs.remove(*id)?;
                events.retain_in((*id, 0)..=(*id, u64::MAX), |_, _| false)?;
            }
            ids.len()
        };
        txn.commit()?;
        Ok(removed)
    }

    /// Append an event to a run; returns its sequence number.
    pub fn append_event(&self, run: u64, event: &[u8]) -> Result<u64, StoreError> {
        let txn = self.db()?.begin_write()?;
        let seq = {
            let mut events = txn.open_table(SYNC_EVENTS)?;
            let last = events
                .range((run, 0)..=(run, u64::MAX))?
                .next_back()
                .transpose()?
                .map(|(k, _)| k.value().1);
            let seq = last.map_or(1, |s| s + 1);
            events.insert((run, seq), event)?;
            seq
        };
        txn.commit()?;
        Ok(seq)
    }

    /// Events of a run after `after`, oldest first, at most `n`.
    pub fn events(
        &self,
        run: u64,
        after: u64,
        n: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let events = txn.open_table(SYNC_EVENTS)?;
        let mut out = Vec::new();
        for entry in events.range((run, after.saturating_add(1))..=(run, u64::MAX))? {
            if out.len() == n {
                break;
            }
            let (k, v) = entry?;
            out.push((k.value().1, v.value().to_vec()));
        }
        Ok(out)
    }

    pub fn mirrored_tag(&self, repo: &str, tag: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(MIRRORED_TAGS)?;
        Ok(table.get((repo, tag))?.map(|v| v.value().to_vec()))
    }

    /// Every mirrored tag of `repo`, in tag order.
    pub fn mirrored_tags(&self, repo: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(MIRRORED_TAGS)?;
        let mut out = Vec::new();
        for entry in table.range::<(&str, &str)>((repo, "")..)? {
            let (k, v) = entry?;
            let (r, tag) = k.value();
            if r != repo {
                break;
            }
            out.push((tag.to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Point a mirrored tag at its manifest, with the sync's record of it, if everything it
    /// needs is present; blobs stored for another repository are linked into this one.
    pub fn put_synced_tag(
        &self,
        put: &PutSyncedTag<'_>,
        now: u64,
    ) -> Result<PutOutcome, StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let blobs = txn.open_table(BLOBS)?;
            let mut repo_blobs = txn.open_table(REPO_BLOBS)?;
            for digest in put.required_blobs {
                match blobs.get(digest.as_str())?.map(|v| v.value()) {
                    Some(size) => {
                        repo_blobs.insert((put.repo, digest.as_str()), size)?;
                    }
                    None => return Ok(PutOutcome::MissingBlob(digest.clone())),
                }
            }
            let manifests = txn.open_table(MANIFESTS)?;
            for digest in put
                .required_manifests
                .iter()
                .map(String::as_str)
                .chain([put.digest])
            {
                if manifests.get((put.repo, digest))?.is_none() {
                    return Ok(PutOutcome::MissingManifest(digest.to_owned()));
                }
            }
            txn.open_table(TAGS)?
                .insert((put.repo, put.tag), put.digest)?;
            super::history::note(&txn, put.repo, put.tag, Some(put.digest), now)?;
            txn.open_table(MIRRORED_TAGS)?
                .insert((put.repo, put.tag), put.record)?;
            super::repos::ensure(&txn, put.repo, now)?;
        }
        txn.commit()?;
        Ok(PutOutcome::Stored)
    }

    /// Forget a mirrored tag; the tag itself goes too if it still points at `digest`.
    pub fn remove_synced_tag(
        &self,
        repo: &str,
        tag: &str,
        digest: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        let removed = {
            let mut tags = txn.open_table(TAGS)?;
            let points = tags.get((repo, tag))?.is_some_and(|v| v.value() == digest);
            if points {
                tags.remove((repo, tag))?;
                super::history::note(&txn, repo, tag, None, now)?;
            }
            txn.open_table(MIRRORED_TAGS)?.remove((repo, tag))?;
            points
        };
        txn.commit()?;
        Ok(removed)
    }

    pub fn partial(&self, repo: &str, digest: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(SYNC_PARTIALS)?;
        Ok(table.get((repo, digest))?.map(|v| v.value().to_owned()))
    }

    pub fn set_partial(
        &self,
        repo: &str,
        digest: &str,
        upload: Option<&str>,
    ) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut table = txn.open_table(SYNC_PARTIALS)?;
            match upload {
                Some(id) => {
                    table.insert((repo, digest), id)?;
                }
                None => {
                    table.remove((repo, digest))?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> (tempfile::TempDir, Meta) {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Meta::open(&dir.path().join("m.redb")).expect("open");
        (dir, meta)
    }

    #[test]
    fn runs_are_numbered_listed_newest_first_and_pruned_with_their_events() {
        let (_d, m) = meta();
        let ids: Vec<u64> = (0..5)
            .map(|i| m.create_run(format!("run{i}").as_bytes()).expect("create"))
            .collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
        m.append_event(2, b"a").expect("event");
        assert_eq!(m.append_event(2, b"b").expect("event"), 2);
        assert_eq!(m.append_event(5, b"x").expect("event"), 1);
        let page: Vec<u64> = m.runs(None, 2).expect("runs").iter().map(|r| r.0).collect();
        assert_eq!(page, vec![5, 4]);
        let next: Vec<u64> = m
            .runs(Some(4), 2)
            .expect("runs")
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(next, vec![3, 2]);
        assert_eq!(
            m.events(2, 1, 10).expect("events"),
            vec![(2, b"b".to_vec())]
        );
        assert_eq!(m.prune_runs(3).expect("prune"), 2);
        assert!(m.run(2).expect("get").is_none());
        assert!(m.events(2, 0, 10).expect("events").is_empty());
        assert_eq!(m.events(5, 0, 10).expect("events").len(), 1);
    }

    #[test]
    fn a_synced_tag_needs_its_content_and_goes_with_its_record() {
        let (_d, m) = meta();
        let blobs = vec!["sha256:b".to_owned()];
        let put = PutSyncedTag {
            repo: "r",
            tag: "t",
            digest: "sha256:m",
            required_blobs: &blobs,
            required_manifests: &[],
            record: b"rec",
        };
        assert_eq!(
            m.put_synced_tag(&put, 1).expect("put"),
            PutOutcome::MissingBlob("sha256:b".into())
        );
        assert!(m.tag("r", "t").expect("tag").is_none());
        for kind in [SettingsKind::Mirror, SettingsKind::Upstream] {
            m.put_settings(kind, "n", b"{}").expect("put");
            assert_eq!(m.settings(kind).expect("list").len(), 1);
            assert!(m.delete_settings(kind, "n").expect("delete"));
        }
        m.set_partial("r", "sha256:b", Some("u1")).expect("partial");
        assert_eq!(
            m.partial("r", "sha256:b").expect("get").as_deref(),
            Some("u1")
        );
        m.set_partial("r", "sha256:b", None).expect("partial");
        assert!(m.partial("r", "sha256:b").expect("get").is_none());
    }
}
