//! How much room the file system holding the data directory has.

use std::io;
use std::path::Path;

/// Sizes of the file system under a path, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DiskSpace {
    pub total: u64,
    /// What an unprivileged writer may still use (root's reserved blocks excluded).
    pub available: u64,
}

pub fn disk_space(path: &Path) -> io::Result<DiskSpace> {
    let st = rustix::fs::statvfs(path)?;
    Ok(DiskSpace {
        total: st.f_blocks.saturating_mul(st.f_frsize),
        available: st.f_bavail.saturating_mul(st.f_frsize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temp_dir_has_a_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let space = disk_space(dir.path()).expect("statvfs");
        assert!(space.total > 0);
        assert!(space.available <= space.total);
    }
}
