//! mreg: git-style, content-addressed versioning for machine-learning models.
//!
//! The library owns the store and never touches the terminal: no printing, no environment
//! reads, no exits. The `mreg` binary (`src/cli/`) turns its typed errors and data into
//! output and exit codes.
//!
//! The public API is what a second client (a Python package, a web server) needs: open a
//! [`Repo`], then call the operations in [`ops`] (commit, checkout, evaluations, queries,
//! fsck, run), [`refs`] (aliases, tags, promote, rollback, archive), [`gc`] (gc, prune, du),
//! [`diff`], [`lineage`] and [`reproduce`], with typed requests and results and the typed
//! [`Error`]. Modules that own the store's internals (chunking, locks, the query cache,
//! atomic writes, remote keys and packs, the dashboard's pages) are private to the crate.
//!
//! A client renders; it computes nothing. The facts about a version, a log, a diff, the
//! history (with `--at`), the best version and a version just recorded are typed,
//! `Serialize` views in [`ops::view`] and [`ops::query`]: the CLI prints them as text or
//! `--json`, the dashboard as HTML and JSON, the Python package as dataclasses. What a
//! client takes from its process (the store to open, the author, the clock, remote
//! options) is interpreted once by [`client`] from a snapshot of the environment the client
//! passes in. Every error has a stable [`Error::code`] (the area and the variant,
//! `QueryBadTime`, `RemoteCredentials`), a hint and a category.
//!
//! ```
//! use std::collections::BTreeMap;
//! use mreg::ops::{commit::commit, query, NoProgress};
//! use mreg::{CommitRequest, ModelName, Repo};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("model.bin"), b"weights")?;
//! let repo = Repo::init(dir.path())?;
//! let model = ModelName::new("mnist")?;
//! let done = commit(
//!     &repo,
//!     CommitRequest {
//!         message: "baseline".into(),
//!         metrics: BTreeMap::from([("acc".to_string(), 0.91)]),
//!         ..CommitRequest::new(model.clone(), "Ada <ada@example.com>",
//!                              dir.path().to_path_buf(), vec!["model.bin".into()])
//!     },
//!     &NoProgress,
//! )?;
//! assert_eq!(repo.resolve("mnist")?, done.id);
//! let listed = query::list(&repo, &query::ListQuery {
//!     filters: query::parse_filters(&["metrics.acc >= 0.9".to_string()])?,
//!     ..Default::default()
//! })?;
//! assert_eq!(listed[0].row.id, done.id);
//! # Ok(()) }
//! ```

// The code lives in folders that show the architecture (docs/DESIGN.md, "Module map");
// the paths clients use stay short through the re-exports below.
pub mod client;
pub mod error;
pub mod format;
pub mod git;
pub mod hints;
pub mod ops;
pub mod query;
pub mod refs;
pub mod remote;
pub mod repo;
pub mod store;
pub(crate) mod sysinfo;
#[cfg(feature = "train")]
pub mod train;
pub mod trust;
pub mod web;

pub use format::time::Timestamp;
pub use format::{commit, datafile, recipe};
pub use git::{hooks, lineage, lockfile};
pub use ops::reach;
pub use ops::{diff, gc, reproduce, worktree};
pub(crate) use query::index;
pub use refs::{history, names, notes, policy, revision, rules, versions};
pub(crate) use store::{
    chunker, delta, entropy, filestore, fsutil, gc_marks, lock, ordered, planes,
};
pub use store::{id, object};

#[cfg(test)]
mod fuzz_tests;

/// Not API: hooks for this crate's own benchmarks, which build stores of 100,000 commits
/// faster than the public operations allow. Nothing else may call these.
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::fsutil::set_durable_for_benchmarks_only;

    /// Append a commit to a model's history without the checks and work-tree updates of
    /// `ops::commit` (benchmarks only). `make` gets the current head.
    pub fn append_commit_for_benchmarks(
        repo: &crate::Repo,
        model: &crate::ModelName,
        info: crate::history::MoveInfo,
        make: impl FnOnce(Option<crate::id::CommitId>) -> crate::Commit,
    ) -> crate::Result<crate::id::CommitId> {
        let (id, _) = repo.transact(model, info, crate::history::Action::Commit, |t| {
            let id = repo.write_commit(&make(t.state().head))?;
            t.set_head(id);
            Ok(id)
        })?;
        repo.commit_recorded(&id);
        Ok(id)
    }

    /// Byte planes over `data` in 4 MiB chunks as the store decides them (planes where they
    /// save 3%, else raw), single thread: (stored bytes, encode seconds, decode seconds).
    /// Decoding is verified against the input.
    pub fn planes_round_trip_for_benchmarks(data: &[u8]) -> (usize, f64, f64) {
        let mut comp = crate::planes::compressor().expect("zstd");
        let t = std::time::Instant::now();
        let mut enc = Vec::new();
        for c in data.chunks(4 << 20) {
            match crate::planes::choose(c).filter(|(_, s)| *s >= 0.03) {
                Some((l, _)) => enc.push((
                    Some(crate::planes::encode(c, l, &mut comp).expect("zstd")),
                    c.len(),
                )),
                None => enc.push((None, c.len())),
            }
        }
        let encode = t.elapsed().as_secs_f64();
        let stored = enc
            .iter()
            .map(|(e, n)| {
                e.as_ref().map_or(*n, |(x, p)| x.len() + p.len()) + crate::object::HEADER_LEN
            })
            .sum();
        // Decode one chunk at a time and drop it, as checkout does (the allocator reuses
        // the memory); only the decoding is timed, each result is verified after.
        let mut decode = 0.0;
        for ((e, n), c) in enc.iter().zip(data.chunks(4 << 20)) {
            if let Some((x, p)) = e {
                let t = std::time::Instant::now();
                let d = crate::planes::decode(x, p, *n).expect("decodes");
                decode += t.elapsed().as_secs_f64();
                assert_eq!(d.as_slice(), c, "byte planes must round-trip");
            }
        }
        (stored, encode, decode)
    }

    /// zstd at `level` over the same 4 MiB chunks: (stored bytes, encode s, decode s).
    pub fn zstd_round_trip_for_benchmarks(data: &[u8], level: i32) -> (usize, f64, f64) {
        let t = std::time::Instant::now();
        let enc: Vec<Vec<u8>> = data
            .chunks(4 << 20)
            .map(|c| zstd::bulk::compress(c, level).expect("zstd"))
            .collect();
        let encode = t.elapsed().as_secs_f64();
        let mut decode = 0.0;
        for (e, c) in enc.iter().zip(data.chunks(4 << 20)) {
            let t = std::time::Instant::now();
            let d = zstd::bulk::decompress(e, c.len()).expect("zstd");
            decode += t.elapsed().as_secs_f64();
            assert_eq!(d.as_slice(), c);
        }
        (
            enc.iter()
                .map(|e| e.len() + crate::object::HEADER_LEN)
                .sum(),
            encode,
            decode,
        )
    }
}

pub use commit::Commit;
pub use error::{Error, Result};
pub use id::{CommitId, FileId, ManifestId, NoteId, ObjectId};
pub use lock::LockWait;
pub use names::ModelName;
pub use ops::commit::CommitRequest;
pub use repo::Repo;
