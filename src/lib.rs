//! hoist: an OCI/Docker registry, an upstream mirror and a web console in one binary.
//!
//! Layers, each importing only those to its right: `http` -> `sync` -> `registry` -> `store` ->
//! `oci`.
//! `app` is the only module that wires them together.

pub mod admin;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod oci;
pub mod registry;
pub mod store;
pub mod sync;
