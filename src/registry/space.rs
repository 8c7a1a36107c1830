//! Room for uploads: a free-space reserve on the data file system, and a cap on the bytes
//! that uploads in progress hold together. Both are checked before every write of upload
//! bytes, so a full disk is refused with a message, not met as a failed write (which redb,
//! sharing the disk, would take badly).

use std::sync::atomic::{AtomicU64, Ordering};

/// A size in bytes, or a share of the data file system's total size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeLimit {
    Bytes(u64),
    PercentOfDisk(f64),
}

impl SizeLimit {
    pub fn resolve(self, disk_total: u64) -> u64 {
        match self {
            SizeLimit::Bytes(n) => n,
            SizeLimit::PercentOfDisk(p) => (disk_total as f64 * p / 100.0) as u64,
        }
    }
}

/// Why an upload may not grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortage {
    /// Writing would leave less than the reserve free.
    Disk {
        available: u64,
        reserve: u64,
        needed: u64,
    },
    /// Uploads in progress already hold what they may.
    Uploads {
        in_progress: u64,
        limit: u64,
        needed: u64,
    },
}

impl std::fmt::Display for Shortage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use bytesize::ByteSize as B;
        match *self {
            Shortage::Disk {
                available,
                reserve,
                needed,
            } => write!(
                f,
                "insufficient storage: the data disk has {} free and hoist keeps {} free \
                 (storage_reserve); {} more cannot be stored",
                B(available),
                B(reserve),
                B(needed)
            ),
            Shortage::Uploads {
                in_progress,
                limit,
                needed,
            } => write!(
                f,
                "insufficient storage for uploads: uploads in progress hold {} of the {} \
                 allowed (uploads_max_bytes); {} more cannot be taken until some finish",
                B(in_progress),
                B(limit),
                B(needed)
            ),
        }
    }
}

/// The bytes uploads in progress hold on disk, against the limits.
#[derive(Debug)]
pub struct UploadSpace {
    reserve: u64,
    limit: u64,
    in_progress: AtomicU64,
}

impl UploadSpace {
    pub fn new(reserve: u64, limit: u64, in_progress: u64) -> Self {
        UploadSpace {
            reserve,
            limit,
            in_progress: AtomicU64::new(in_progress),
        }
    }

    /// Whether `needed` more bytes could be taken now, without taking them: for a body
    /// whose length is declared up front, so it is refused before it is read.
    pub fn check(&self, needed: u64, available: u64) -> Result<(), Shortage> {
        self.check_disk(needed, available)?;
        let in_progress = self.in_progress();
        if in_progress.saturating_add(needed) > self.limit {
            return Err(self.uploads_shortage(in_progress, needed));
        }
        Ok(())
    }

    /// Take room for `needed` bytes about to be written; give it back with
    /// [`UploadSpace::release`] if the write fails or the file goes.
    pub fn admit(&self, needed: u64, available: u64) -> Result<(), Shortage> {
        self.check_disk(needed, available)?;
        let limit = self.limit;
        self.in_progress
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                let after = now.saturating_add(needed);
                (after <= limit).then_some(after)
            })
            .map(drop)
            .map_err(|now| self.uploads_shortage(now, needed))
    }

    pub fn release(&self, bytes: u64) {
        let _ = self
            .in_progress
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_sub(bytes))
            });
    }

    pub fn in_progress(&self) -> u64 {
        self.in_progress.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn reserve(&self) -> u64 {
        self.reserve
    }

    fn check_disk(&self, needed: u64, available: u64) -> Result<(), Shortage> {
        if available < self.reserve.saturating_add(needed) {
            return Err(Shortage::Disk {
                available,
                reserve: self.reserve,
                needed,
            });
        }
        Ok(())
    }

    fn uploads_shortage(&self, in_progress: u64, needed: u64) -> Shortage {
        Shortage::Uploads {
            in_progress,
            limit: self.limit,
            needed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_limits_follow_the_disk() {
        assert_eq!(SizeLimit::PercentOfDisk(50.0).resolve(1000), 500);
        assert_eq!(SizeLimit::Bytes(7).resolve(1000), 7);
    }

    #[test]
    fn the_reserve_is_kept_free() {
        let space = UploadSpace::new(100, u64::MAX, 0);
        assert!(space.admit(50, 150).is_ok());
        let refused = space.admit(51, 150).expect_err("into the reserve");
        assert!(matches!(refused, Shortage::Disk { needed: 51, .. }));
        assert!(refused.to_string().contains("storage_reserve"), "{refused}");
    }

    #[test]
    fn uploads_together_stay_under_their_limit_and_give_back_room() {
        let space = UploadSpace::new(0, 100, 40);
        assert!(space.check(60, u64::MAX).is_ok());
        assert!(space.admit(60, u64::MAX).is_ok());
        assert_eq!(space.in_progress(), 100);
        let refused = space.admit(1, u64::MAX).expect_err("over the limit");
        assert!(
            refused.to_string().contains("uploads_max_bytes"),
            "{refused}"
        );
        space.release(30);
        assert!(space.admit(30, u64::MAX).is_ok());
        space.release(1000);
        assert_eq!(space.in_progress(), 0);
    }
}
