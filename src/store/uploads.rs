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

/// The outcome of appending a stream of chunks.
pub struct Appended {
    pub written: u64,
    /// The hash state after the appended bytes, if it was kept up to date throughout.
    pub hasher: Option<Hasher>,
    pub error: Option<io::Error>,
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
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.path(id))
            .map(drop)
    }

    pub fn len(&self, id: &str) -> io::Result<u64> {
        Ok(std::fs::metadata(self.path(id))?.len())
    }

    pub fn remove(&self, id: &str) -> io::Result<()> {
        match std::fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every upload file with its last modification time.
    pub fn list(&self) -> io::Result<Vec<(String, SystemTime)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if !meta.is_file() {
                // Not ours: we only ever create files here. Leave it, do not fail on it.
                continue;
            }
            let modified = meta.modified()?;
            if let Some(name) = entry.file_name().to_str() {
                out.push((name.to_owned(), modified));
            }
        }
        Ok(out)
    }

    /// Append chunks as they arrive (blocking), feeding `hasher` with exactly what was written.
    /// Stops at the first write error and reports it with how much was written before it.
    pub fn append(
        &self,
        id: &str,
        chunks: impl Iterator<Item = Bytes>,
        mut hasher: Option<Hasher>,
    ) -> Appended {
        let mut file = match OpenOptions::new().append(true).open(self.path(id)) {
            Ok(f) => f,
            Err(e) => {
                return Appended {
                    written: 0,
                    hasher,
                    error: Some(e),
                }
            }
        };
        let mut written = 0;
        for chunk in chunks {
            if let Err(e) = file.write_all(&chunk) {
                // Part of the chunk may be on disk: the hash state no longer matches the file.
                return Appended {
                    written,
                    hasher: None,
                    error: Some(e),
                };
            }
            written += chunk.len() as u64;
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
        }
        Appended {
            written,
            hasher,
            error: None,
        }
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
