//! Version numbers: `fraud#12`, the same on every store once published.
//!
//! A model's versions are numbered 1, 2, 3 … in the order they were *published*: the order
//! of the commit lines in the model's history on its upstream remote (`origin`, else the
//! only remote, else the first by name). That order is total and immutable (each remote
//! line is a create-only object at the next number), so every store that has pulled agrees
//! on it, whichever machine committed which version and whatever their clocks say. The
//! remote line carries its number (`extra.version`), and readers check it.
//!
//! A store without a remote is its own authority: its versions are numbered in the order
//! its history recorded them (a first push to an empty remote publishes them in that same
//! order, so the numbers do not change). A version committed on a store that has a remote
//! and not yet published there is *pending*: it has no number, because another machine
//! may publish a version under the number it would take.
//!
//! The *latest* version of a model (its head) is the most recently published one; a
//! store's pending versions come after it, in the order they were committed.

use std::collections::HashMap;

use crate::error::Result;
use crate::history::{LogEntry, RefName};
use crate::id::CommitId;
use crate::names::ModelName;
use crate::repo::Repo;

pub use crate::remote::log::VERSION;

/// Who assigns a model's version numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authority {
    /// This store has no remote: numbers follow its own history.
    Local,
    /// The publication order on this remote.
    Remote(String),
}

/// The version numbers of one model's versions.
#[derive(Clone, Debug)]
pub struct Numbering {
    pub authority: Authority,
    by_id: HashMap<CommitId, u64>,
    by_number: Vec<CommitId>,
}

impl Numbering {
    /// The number of version `id` (None: pending, or not a version of this model).
    pub fn number(&self, id: &CommitId) -> Option<u64> {
        self.by_id.get(id).copied()
    }

    /// The version published as number `n`.
    pub fn find(&self, n: u64) -> Option<CommitId> {
        n.checked_sub(1)
            .and_then(|i| self.by_number.get(i as usize))
            .copied()
    }

    /// How many versions have a number.
    pub fn len(&self) -> u64 {
        self.by_number.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.by_number.is_empty()
    }

    fn push(&mut self, id: CommitId) {
        if !self.by_id.contains_key(&id) {
            self.by_number.push(id);
            self.by_id.insert(id, self.by_number.len() as u64);
        }
    }
}

pub use crate::history::committed;

/// The remote that numbers this store's versions: `origin`, else the only remote, else the
/// first by name (None: the store has no remote).
pub fn upstream(repo: &Repo) -> Result<Option<String>> {
    let all = crate::remote::config::remotes(repo)?;
    if all.contains_key("origin") {
        return Ok(Some("origin".into()));
    }
    Ok(all.into_keys().next())
}

/// What the numbering of `model` depends on besides its local history: the upstream
/// remote and the length of its verified lines (the query index keys its cache on it).
pub fn signature(repo: &Repo, model: &ModelName) -> Result<(Option<String>, u64)> {
    let Some(name) = upstream(repo)? else {
        return Ok((None, 0));
    };
    let tf = track(repo, &name, model)?;
    Ok((Some(name), tf.track.cache_len))
}

fn track(repo: &Repo, remote: &str, model: &ModelName) -> Result<crate::remote::log::TrackFile> {
    crate::remote::log::TrackFile::open(
        repo.store_dir().join("remotes").join(remote).join("models"),
        repo.tmp_dir(),
        model,
    )
}

/// The numbering of `model`'s versions, from its local history `entries` (oldest first)
/// or its upstream remote's verified lines.
pub fn numbering(repo: &Repo, model: &ModelName, entries: &[LogEntry]) -> Result<Numbering> {
    let authority = match upstream(repo)? {
        Some(r) => Authority::Remote(r),
        None => Authority::Local,
    };
    let mut n = Numbering {
        authority: authority.clone(),
        by_id: HashMap::new(),
        by_number: Vec::new(),
    };
    match &authority {
        Authority::Local => {
            for e in entries {
                if let Some(id) = committed(&e.action, &e.changes) {
                    n.push(id);
                }
            }
        }
        Authority::Remote(r) => {
            for l in track(repo, r, model)?.cached_lines_after(0)? {
                if let Some(id) = committed(&l.action, &l.changes) {
                    n.push(id);
                }
            }
        }
    }
    Ok(n)
}

/// The versions of the local history `entries` (oldest first) in publication order,
/// oldest first: numbered ones by number, then this store's pending ones in the order its
/// history recorded them. Versions the remote has published but this store has not pulled
/// yet are not listed.
pub fn ordered(numbering: &Numbering, entries: &[LogEntry]) -> Vec<(CommitId, Option<u64>)> {
    // Every version the local history names: the new head of a commit line (and, for
    // safety, of any head move: a reconcile names versions a commit line recorded).
    let mut local: Vec<CommitId> = Vec::new();
    let mut known = std::collections::HashSet::new();
    for e in entries {
        for c in e.changes.iter().filter(|c| c.name == RefName::Head) {
            if let Some(id) = c.new {
                if known.insert(id) {
                    local.push(id);
                }
            }
        }
    }
    let mut out: Vec<(CommitId, Option<u64>)> = numbering
        .by_number
        .iter()
        .enumerate()
        .filter(|(_, id)| known.contains(*id))
        .map(|(i, id)| (*id, Some(i as u64 + 1)))
        .collect();
    out.extend(
        local
            .into_iter()
            .filter(|id| !numbering.by_id.contains_key(id))
            .map(|id| (id, None)),
    );
    out
}

/// The versions of `model` this store knows, in publication order, oldest first, with
/// their numbers (None: pending).
pub fn of_model(repo: &Repo, model: &ModelName) -> Result<Vec<(CommitId, Option<u64>)>> {
    let entries = repo.history_entries(model)?;
    let numbering = numbering(repo, model, &entries)?;
    Ok(ordered(&numbering, &entries))
}

/// `N` of a `#N` revision suffix.
pub fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 18 {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| *n > 0)
}

/// `#12`, or `pending` for a version not yet published.
pub fn label(n: Option<u64>) -> String {
    n.map_or_else(|| "pending".to_string(), |n| format!("#{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_strictly() {
        assert_eq!(parse_number("12"), Some(12));
        for bad in ["", "0", "-1", "1a", "+3", " 1", "99999999999999999999"] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
        assert_eq!(label(Some(3)), "#3");
        assert_eq!(label(None), "pending");
    }
}
