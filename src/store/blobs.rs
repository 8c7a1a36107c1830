//! Content-addressed blob files on local disk: `blobs/<alg>/<2 hex>/<hex>`.
//! A file appears under its digest only by an atomic rename of a complete, fsynced file.

use crate::oci::Digest;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    pub fn new(root: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        Ok(BlobStore { root })
    }

    /// Where the blob lives. The digest is validated hex, so the path cannot escape `root`.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join(digest.algorithm().name())
            .join(&hex[..2])
            .join(hex)
    }

    pub fn open(&self, digest: &Digest) -> io::Result<File> {
        File::open(self.path(digest))
    }

    pub fn exists(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Move a complete, already fsynced file into place under `digest`, then make the rename
    /// itself durable. If the blob is already there the new copy is dropped.
    pub fn install(&self, complete: &Path, digest: &Digest) -> io::Result<()> {
        let dest = self.path(digest);
        if dest.is_file() {
            return std::fs::remove_file(complete);
        }
        let dir = dest.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)?;
        std::fs::rename(complete, &dest)?;
        File::open(dir)?.sync_all()
    }
}
