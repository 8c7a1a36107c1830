//! One integration test binary: every test starts the real `hoist` on 127.0.0.1.

mod harness;

mod blobs;
mod formats;
mod formats_skopeo;
mod inspect;
mod listing;
mod manifests;
