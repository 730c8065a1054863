//! The content-addressed store: ids, write-once objects, chunking, files as chunks plus a
//! manifest, durable writes, locks, and what keeps objects alive (the reachability walk and
//! the pruned marks). Nothing here knows about models, refs or git.

pub(crate) mod chunker;
pub(crate) mod delta;
pub(crate) mod filestore;
pub(crate) mod fsutil;
pub(crate) mod gc_marks;
pub mod id;
pub(crate) mod lock;
pub mod object;
pub(crate) mod planes;
pub mod reach;
pub(crate) mod safetensors;
pub(crate) mod zip;
