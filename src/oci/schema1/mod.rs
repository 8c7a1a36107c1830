//! Docker schema 1: conversion from schema 2 (byte-exact with distribution 2.8), the
//! libtrust pretty-JWS envelope, signing and verification, and up-conversion to schema 2.

pub mod from_schema2;
pub mod jws;
pub mod to_schema2;

pub use from_schema2::{to_schema1, ConversionError, EMPTY_LAYER_DIGEST};
