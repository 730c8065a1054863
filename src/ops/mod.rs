//! Operations: what clients call. Commit, checkout, status (`worktree`), evaluations,
//! queries, diff, gc/prune/du, fsck, run and reproduce, and the JSON views clients share.
//!
//! Each takes plain data in (paths already resolved, author and time already chosen by the
//! caller) and returns plain data out; none prints or reads the environment.

pub mod checkout;
pub mod commit;
pub mod diff;
pub mod du;
pub mod eval;
pub mod fsck;
pub mod gc;
pub mod inprocess;
pub mod live;
pub mod load_cache;
pub mod query;
pub mod reach;
pub mod reproduce;
pub mod run;
pub mod runs;
pub mod tensors;
pub mod view;
pub mod worktree;

/// Progress reports for long work; the CLI renders them, the library only calls them.
pub trait Progress: Sync {
    /// A new phase begins, covering `total` bytes.
    fn start(&self, _what: &str, _total: u64) {}
    /// `n` more bytes are done.
    fn advance(&self, _n: u64) {}
    /// The phase is over.
    fn finish(&self) {}
}

/// A progress sink that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}
