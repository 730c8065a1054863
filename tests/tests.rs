//! The integration tests: one test binary (one link of the library instead of one per
//! file), one module per area, shared helpers in `common` (stores, the real binary, git)
//! and `servers` (S3 test servers on loopback). Run one area with
//! `cargo test --test tests remote::`, one test by its name.

mod common;
mod servers;

mod cli;
mod codecs;
mod gc_retention;
mod git;
mod library;
mod lost_history;
mod newcomer;
mod parallel;
mod pickles;
mod queries;
mod registry;
mod reliability;
mod remote;
mod remote_access;
mod remote_gc;
mod runs;
mod signing;
mod split_brain;
mod teams;
#[cfg(feature = "train")]
mod train;

mod trust_machines;
mod ui;
mod ui_write;
mod worktree;
