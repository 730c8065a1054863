//! The content-addressed store: ids, write-once objects, chunking, files as chunks plus a
//! manifest, durable writes, locks, and the marks of versions whose data was pruned. The
//! reachability walk, which reads models' histories, is `ops::reach`. Nothing here knows
//! about refs or git.

pub(crate) mod chunker;
pub(crate) mod delta;
pub(crate) mod entropy;
pub(crate) mod filestore;
pub(crate) mod fsutil;
pub(crate) mod gc_marks;
pub mod id;
pub(crate) mod lock;
pub mod object;
pub(crate) mod onnx;
pub(crate) mod ordered;
pub(crate) mod planes;
pub(crate) mod safetensors;
pub(crate) mod torch_legacy;
pub(crate) mod zip;
