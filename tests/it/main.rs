//! One integration test binary: every test starts the real `hoist` on 127.0.0.1.

mod harness;

mod blobs;
mod conformance;
mod conformance_dev;
mod crash;
mod formats;
mod formats_skopeo;
mod hostile;
mod inspect;
mod interop;
mod listing;
mod manifests;
