//! Records of uploads in progress.

use super::records::{decode, encode};
use super::tables::UPLOADS;
use super::{Meta, StoreError, UploadRecord};
use redb::{ReadableDatabase, ReadableTable};

impl Meta {
    pub fn create_upload(&self, id: &str, record: &UploadRecord) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(UPLOADS)?
            .insert(id, encode(record)?.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    pub fn upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(UPLOADS)?;
        let value = table.get(id)?;
        value.map(|v| decode("uploads", v.value())).transpose()
    }

    pub fn delete_upload(&self, id: &str) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        let removed = txn.open_table(UPLOADS)?.remove(id)?.is_some();
        txn.commit()?;
        Ok(removed)
    }

    pub fn upload_ids(&self) -> Result<Vec<String>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(UPLOADS)?;
        let mut ids = Vec::new();
        for entry in table.iter()? {
            ids.push(entry?.0.value().to_owned());
        }
        Ok(ids)
    }
}
