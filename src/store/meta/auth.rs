//! What access control keeps: users, access tokens, permission rules made through the API,
//! console sessions, and the audit log. Values are the auth layer's JSON, opaque here.

use super::tables::*;
use super::{Meta, StoreError};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

/// Which of the auth layer's keyed tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthTable {
    Users,
    Tokens,
    Rules,
    Sessions,
}

impl AuthTable {
    fn table(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            AuthTable::Users => USERS,
            AuthTable::Tokens => ACCESS_TOKENS,
            AuthTable::Rules => AUTH_RULES,
            AuthTable::Sessions => SESSIONS,
        }
    }
}

impl Meta {
    pub fn auth_get(&self, table: AuthTable, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let t = txn.open_table(table.table())?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    pub fn auth_list(&self, table: AuthTable) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let t = txn.open_table(table.table())?;
        let mut out = Vec::new();
        for entry in t.iter()? {
            let (k, v) = entry?;
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    pub fn auth_put(&self, table: AuthTable, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(table.table())?.insert(key, value)?;
        txn.commit()?;
        Ok(())
    }

    /// Insert `key` only if it is not there yet; whether it was inserted.
    pub fn auth_create(
        &self,
        table: AuthTable,
        key: &str,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        let created = {
            let mut t = txn.open_table(table.table())?;
            if t.get(key)?.is_some() {
                false
            } else {
                t.insert(key, value)?;
                true
            }
        };
        txn.commit()?;
        Ok(created)
    }

    pub fn auth_delete(&self, table: AuthTable, key: &str) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        let removed = txn.open_table(table.table())?.remove(key)?.is_some();
        txn.commit()?;
        Ok(removed)
    }

    /// Append an audit record at `at_ms`.
    pub fn audit_append(&self, at_ms: u64, record: &[u8]) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut t = txn.open_table(AUDIT)?;
            let seq = t
                .range((at_ms, 0)..=(at_ms, u64::MAX))?
                .next_back()
                .transpose()?
                .map_or(0, |(k, _)| k.value().1 + 1);
            t.insert((at_ms, seq), record)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Audit records newest first, older than `before_ms` (all when `None`), at most `n`.
    pub fn audit(
        &self,
        before_ms: Option<u64>,
        n: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let t = txn.open_table(AUDIT)?;
        let upper = before_ms.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        for entry in t.range(..(upper, 0))?.rev() {
            if out.len() == n {
                break;
            }
            let (k, v) = entry?;
            out.push((k.value().0, v.value().to_vec()));
        }
        Ok(out)
    }

    /// Delete audit records older than `cutoff_ms`; how many went.
    pub fn prune_audit(&self, cutoff_ms: u64) -> Result<u64, StoreError> {
        let txn = self.db()?.begin_write()?;
        let removed = {
            let mut t = txn.open_table(AUDIT)?;
            let before = t.len()?;
            t.retain_in(..(cutoff_ms, 0), |_, _| false)?;
            before - t.len()?
        };
        txn.commit()?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_records_list_newest_first_and_prune_by_age() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = Meta::open(&dir.path().join("m.redb")).expect("open");
        for (at, what) in [(1000, "a"), (1000, "b"), (2000, "c"), (3000, "d")] {
            m.audit_append(at, what.as_bytes()).expect("append");
        }
        let all: Vec<Vec<u8>> = m
            .audit(None, 10)
            .expect("list")
            .into_iter()
            .map(|r| r.1)
            .collect();
        assert_eq!(
            all,
            vec![b"d".to_vec(), b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]
        );
        assert_eq!(m.audit(Some(3000), 1).expect("page")[0].1, b"c".to_vec());
        assert_eq!(m.prune_audit(2000).expect("prune"), 2);
        assert_eq!(m.audit(None, 10).expect("list").len(), 2);
        assert!(m.auth_create(AuthTable::Users, "u", b"1").expect("create"));
        assert!(!m.auth_create(AuthTable::Users, "u", b"2").expect("again"));
        assert_eq!(
            m.auth_get(AuthTable::Users, "u").expect("get"),
            Some(b"1".to_vec())
        );
    }
}
