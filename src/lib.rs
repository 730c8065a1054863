//! mreg: git-style, content-addressed versioning for machine-learning models.
//!
//! The library owns the store and never touches the terminal: no printing, no environment
//! reads, no exits. The `mreg` binary (`src/cli/`) turns its typed errors and data into
//! output and exit codes.
//!
//! ```no_run
//! use mreg::{Repo, ops::commit::{commit, CommitRequest}, ops::NoProgress};
//! # fn main() -> mreg::Result<()> {
//! let repo = Repo::discover(std::path::Path::new("."))?;
//! let head = repo.resolve("mnist")?;
//! println!("{}", repo.read_commit(&head)?.message);
//! # Ok(()) }
//! ```

pub mod chunker;
pub mod commit;
pub mod datafile;
pub mod diff;
pub mod error;
pub mod filestore;
pub mod fsutil;
pub mod gc;
pub mod gc_marks;
pub mod git;
pub mod history;
pub mod hooks;
pub mod id;
pub mod index;
pub mod lineage;
pub mod lock;
pub mod lockfile;
pub mod names;
pub mod notes;
pub mod object;
pub mod ops;
pub mod policy;
pub mod query;
pub mod reach;
pub mod recipe;
pub mod refs;
pub mod repo;
pub mod reproduce;
pub mod revision;
pub mod sysinfo;
#[cfg(feature = "train")]
pub mod train;
pub mod worktree;

#[cfg(test)]
mod fuzz_tests;

pub use commit::Commit;
pub use error::{Error, Result};
pub use id::ObjectId;
pub use names::ModelName;
pub use ops::commit::CommitRequest;
pub use repo::Repo;
