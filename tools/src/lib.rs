//! Shared code of the `dtnd` daemon and the `dtnctl` operator CLI. This is the one crate
//! that reads the wall clock, the terminal and the file system on the user's behalf.

pub mod blob_cli;
pub mod bundle_cli;
pub mod bundle_json;
pub mod bundles_cli;
pub mod cert_cli;
pub mod cli_io;
pub mod dtnd;
pub mod node_cli;
pub mod ping_cli;
pub mod route_cli;
pub mod trace_cli;
pub mod twin_cli;
