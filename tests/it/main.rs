//! One integration test binary: every test starts the real `hoist` on 127.0.0.1.

mod harness;

mod blobs;
mod broken_content;
mod conformance;
mod conformance_dev;
mod crash;
mod disk_full;
mod engines;
mod engines_selftest;
mod fault_proxy;
mod formats;
mod formats_skopeo;
mod hostile;
mod inspect;
mod interop;
mod listing;
mod manifests;
mod mirror;
mod mirror_engines;
mod pull_through;
mod races;
mod rawhttp;
mod resets;
mod soak;
mod stalls;
mod sync_crash;
mod sync_faults;
mod token_issuer;
mod upstream;
mod upstream_selftest;
