//! Errors of the persistence layer.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("metadata database: {0}")]
    Db(Box<redb::Error>),
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt record in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
}

/// ENOSPC and EDQUOT: the file system (or the user's quota) is full.
const NO_SPACE: [i32; 2] = [28, 122];

impl StoreError {
    /// The disk (or a quota) is full: the client should hear that, not an opaque failure.
    pub fn is_no_space(&self) -> bool {
        let io = match self {
            StoreError::Io(e) => Some(e),
            StoreError::Db(e) => match e.as_ref() {
                redb::Error::Io(e) => Some(e),
                _ => None,
            },
            StoreError::Corrupt { .. } => None,
        };
        io.and_then(std::io::Error::raw_os_error)
            .is_some_and(|code| NO_SPACE.contains(&code))
    }

    /// An I/O failure inside redb, after which its handle refuses writes until re-opened.
    pub fn is_db_io(&self) -> bool {
        matches!(
            self,
            StoreError::Db(e) if matches!(
                e.as_ref(),
                redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed
            )
        )
    }

    /// The operation never ran on a working handle (an earlier failure, or a re-open under
    /// way): once the handle is re-opened it may simply be tried again.
    pub fn is_stale_handle(&self) -> bool {
        matches!(
            self,
            StoreError::Db(e) if matches!(
                e.as_ref(),
                redb::Error::PreviousIo | redb::Error::DatabaseClosed
            )
        )
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(Box::new(e.into()))
            }
        }
    )*};
}

from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
