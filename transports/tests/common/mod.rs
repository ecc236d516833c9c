//! Helpers shared by the transports tests.
#![allow(dead_code, clippy::unwrap_used)]

pub mod certs;
