//! Per-client limits at the edge: how many uploads one client address may have sending at
//! once. Past it the client hears 429 TOOMANYREQUESTS at once, before any byte is read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the edge enforces per connection and per client.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// A request body that sends nothing for this long is aborted.
    pub body_idle_timeout: Duration,
    /// Uploads (requests with a blob body) one client address may have in flight.
    pub uploads_per_client: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            body_idle_timeout: Duration::from_secs(60),
            uploads_per_client: 64,
        }
    }
}

/// Uploads in flight, per client address.
#[derive(Debug, Default)]
pub struct ClientUploads {
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One upload's place in its client's count; given back when dropped.
#[derive(Debug)]
pub struct UploadSlot {
    client: IpAddr,
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ClientUploads {
    /// A place for one more upload from `client`, or how many it already has.
    pub fn try_acquire(&self, client: IpAddr, limit: usize) -> Result<UploadSlot, usize> {
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let count = map.entry(client).or_insert(0);
        if *count >= limit {
            return Err(*count);
        }
        *count += 1;
        Ok(UploadSlot {
            client,
            in_flight: Arc::clone(&self.in_flight),
        })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = map.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_has_its_own_count_and_slots_come_back() {
        let uploads = ClientUploads::default();
        let a: IpAddr = "127.0.0.2".parse().expect("ip");
        let b: IpAddr = "127.0.0.3".parse().expect("ip");
        let first = uploads.try_acquire(a, 2).expect("1st");
        let _second = uploads.try_acquire(a, 2).expect("2nd");
        assert_eq!(uploads.try_acquire(a, 2).expect_err("3rd"), 2);
        assert!(
            uploads.try_acquire(b, 2).is_ok(),
            "another client is not limited"
        );
        drop(first);
        assert!(uploads.try_acquire(a, 2).is_ok());
    }
}
