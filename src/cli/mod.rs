//! Command-line tools that talk to a running hoist over HTTP (the store is opened by one
//! process at a time: the server).

pub mod inspect;
pub mod sync;
pub mod user;
