//! The temp files of uploads in progress: `uploads/<id>`, on the same file system as the
//! blobs so that finishing an upload is a rename.

use crate::oci::{Algorithm, Digest, Hasher};
use bytes::Bytes;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::SystemTime;

pub struct UploadFiles {
    dir: PathBuf,
}

/// An upload file open for appending. Whatever happens, the file ends at a known length:
/// a failed append is cut back to where it began.
pub struct UploadFile {
    file: File,
}

impl UploadFile {
    /// Append `chunks` whole, or leave the file at `len`, its length before the call.
    /// On failure returns the error and the file's length afterwards (`len`, unless even
    /// the cut failed).
    pub fn append(&mut self, len: u64, chunks: &[Bytes]) -> Result<(), (io::Error, u64)> {
        for chunk in chunks {
            if let Err(e) = self.file.write_all(chunk) {
                // Part of the chunk may be on disk; cut back so the length is one we know.
                let after = match self.file.set_len(len) {
                    Ok(()) => len,
                    Err(_) => self.file.metadata().map(|m| m.len()).unwrap_or(u64::MAX),
                };
                return Err((e, after));
            }
        }
        Ok(())
    }

    /// Cut the file back to `len` bytes (a chunk that did not match its Content-Range).
    pub fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

impl UploadFiles {
    pub fn new(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(UploadFiles { dir })
    }

    /// Upload ids are UUIDs we generated; anything else never reaches the file system.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn create(&self, id: &str) -> io::Result<()> {
        self.create_open(id).map(drop)
    }

    /// Create a new upload file and keep it open for appending.
    pub fn create_open(&self, id: &str) -> io::Result<UploadFile> {
        OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(self.path(id))
            .map(|file| UploadFile { file })
    }

    /// Open an existing upload file for appending; NotFound when the upload is gone.
    pub fn open(&self, id: &str) -> io::Result<UploadFile> {
        OpenOptions::new()
            .append(true)
            .open(self.path(id))
            .map(|file| UploadFile { file })
    }

    pub fn len(&self, id: &str) -> io::Result<u64> {
        Ok(std::fs::metadata(self.path(id))?.len())
    }

    /// Remove an upload file; returns its size (0 when it was not there).
    pub fn remove(&self, id: &str) -> io::Result<u64> {
        let path = self.path(id);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            Err(_) => Ok(0),
            Ok(()) => Ok(size),
        }
    }

    /// Every upload file with its size and last modification time.
    pub fn list(&self) -> io::Result<Vec<(String, u64, SystemTime)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let meta = match entry.metadata() {
                Ok(m) => m,
                // Removed between the listing and the stat: not ours to report.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if !meta.is_file() {
                // Not ours: we only ever create files here. Leave it, do not fail on it.
                continue;
            }
            let modified = meta.modified()?;
            if let Some(name) = entry.file_name().to_str() {
                out.push((name.to_owned(), meta.len(), modified));
            }
        }
        Ok(out)
    }

    /// Flush the file to stable storage before it is renamed into the blob store.
    pub fn sync(&self, id: &str) -> io::Result<()> {
        File::open(self.path(id))?.sync_all()
    }

    /// Digest the whole file again, for when no hash state survived (restart, other algorithm).
    pub fn digest(&self, id: &str, algorithm: Algorithm) -> io::Result<Digest> {
        let mut file = File::open(self.path(id))?;
        let mut hasher = Hasher::new(algorithm);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok(hasher.finish());
            }
            hasher.update(&buf[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_append_leaves_the_file_where_it_was() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = UploadFiles::new(dir.path().to_owned()).expect("dir");
        let mut f = files.create_open("u").expect("create");
        f.append(0, &[Bytes::from_static(b"abc")]).expect("append");
        f.truncate(2).expect("truncate");
        assert_eq!(files.len("u").expect("len"), 2);
        assert_eq!(files.remove("u").expect("remove"), 2);
        assert_eq!(files.remove("u").expect("remove again"), 0);
        assert!(files
            .open("u")
            .is_err_and(|e| e.kind() == io::ErrorKind::NotFound));
    }
}
