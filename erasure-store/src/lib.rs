//! Blobs (ARCHITECTURE §9): model weights and other large objects, addressed by their BLAKE3
//! hash and cut into Reed-Solomon shards that travel as separate bundles, so a lossy link or
//! a contact that closes costs shards, not the blob: any k shards of a stripe rebuild it.
//!
//! - [`hash`]: the BLAKE3 address of a blob or shard.
//! - [`code`]: striping and Reed-Solomon coding (k data + m parity shards per stripe).
//! - [`manifest`]: the description of a coded blob (size, k, m, shard size, every shard's
//!   hash), itself a small blob; decoded with bounds before anything is allocated.
//! - [`store`]: the node's blobs on disk, with reference counts and a quota.
//! - [`transfer`]: sending and receiving blobs as shards in bundles, with repair requests,
//!   as a sans-IO state machine; [`wire`]: its payloads.
//!
//! The Reed-Solomon implementation is `reed-solomon-simd` (measured against
//! `reed-solomon-erasure` by `cargo bench -p erasure-store --bench coding`, and checked
//! against it by a differential test).
//!
//! Storage: iroh-blobs was the plan (ARCHITECTURE §9: "its store, or the part of it that
//! fits"). Its store is an async actor over its own redb database and its API needs iroh's
//! runtime, which fits neither the sans-IO core nor one store per node; its verified
//! streaming (bao) is for fetching ranges of a blob from a peer over a connection, which a
//! DTN does not have. What this crate keeps of the idea is the address (BLAKE3, the hash bao
//! roots are) and per-shard verification: every shard is checked against the hash the
//! manifest gives it before it is used, and the whole blob against its address.

pub mod code;
pub mod hash;
pub mod manifest;
pub mod store;
pub mod transfer;
pub mod wire;

pub use code::{Code, CodeError, Layout};
pub use hash::Hash;
pub use manifest::{Manifest, ManifestError};
pub use store::{BlobInfo, BlobStore, BlobWriter, StoreError};
pub use transfer::{Outgoing, Progress, TransferConfig, TransferError, Transfers};
