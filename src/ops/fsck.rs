//! `fsck`: verify every object, commit, ref and history log.
//!
//! 1. Every object file is read, decoded and hashed (in parallel); a mismatch, a bad
//!    header or a stray file is a problem. A delta object is decoded through its chain, so
//!    a missing or damaged base, or a chain whose recorded depths disagree, is a problem of
//!    the delta too.
//! 2. Every model's history log is checked: parseable lines, the hash chain, and that each
//!    entry's changes lead from the previous state to its own. A torn last line (a crash
//!    during an append) is a warning: readers ignore it and the next write removes it.
//! 3. Every commit named by any history entry, and their ancestors (the `reach` walk gc
//!    and du share), must be a valid commit whose manifests are present and match its file
//!    entries, and whose chunks are present, intact and as long as the manifest says
//!    (unless gc pruned its data).
//!
//! 4. A commit object no history names is a problem (a history line was lost: a restored
//!    or half-copied store), unless its pending marker shows an interrupted commit (a
//!    warning). gc keeps the former forever and the latter for the grace period.
//!
//! Other objects nobody references (left by a crash before the commit object was written)
//! are counted as dangling: harmless, and removed by gc.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::filestore::Manifest;
use crate::gc_marks;
use crate::id::ObjectId;
use crate::object::Kind;
use crate::reach;
use crate::repo::Repo;

/// A broken item (the same type the reachability walk reports).
pub use crate::reach::Problem;

#[derive(Clone, Debug, Default, Serialize)]
pub struct FsckReport {
    pub objects: usize,
    pub commits: usize,
    pub models: usize,
    pub history_entries: usize,
    pub dangling: usize,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

pub fn fsck(repo: &Repo) -> Result<FsckReport> {
    let mut rep = FsckReport::default();
    let _lock = repo.lock_store_read()?;
    let (ids, strays) = repo.objects().list()?;
    for s in strays {
        rep.problems.push(Problem {
            item: s.display().to_string(),
            problem: "not a valid object file name".into(),
        });
    }
    rep.objects = ids.len();
    let checked: Vec<(ObjectId, Result<(Kind, u64)>)> = ids
        .par_iter()
        .map(|id| {
            (
                *id,
                repo.objects()
                    .get_stored(id)
                    .map(|(k, d)| (k, d.len() as u64)),
            )
        })
        .collect();
    let mut kinds: HashMap<ObjectId, (Kind, u64)> = HashMap::new();
    for (id, r) in checked {
        match r {
            Ok(k) => {
                kinds.insert(id, k);
            }
            Err(e) => rep.problems.push(Problem {
                item: format!("object {id}"),
                problem: e.to_string(),
            }),
        }
    }
    let kind_of = |id: &ObjectId| kinds.get(id).map(|(k, _)| *k);

    // History logs: each line parses and the hash chain holds.
    let models = repo.models()?;
    rep.models = models.len();
    for m in &models {
        let log = repo.model_log(m);
        let item = format!("model {m} ({})", log.path().display());
        for p in log.verify_chain()? {
            rep.problems.push(Problem {
                item: item.clone(),
                problem: p,
            });
        }
    }

    // The commits every history names, and their ancestors: the walk gc and du share.
    let walk = reach::walk(repo)?;
    for m in &walk.torn {
        rep.warnings.push(Problem {
            item: format!("model {m} ({})", repo.model_log(m).path().display()),
            problem:
                "torn last line from an interrupted write (ignored; removed by the next write)"
                    .into(),
        });
    }
    rep.history_entries = walk.histories.values().map(Vec::len).sum();
    rep.problems.extend(walk.problems.iter().map(|p| Problem {
        item: p.item.clone(),
        problem: p.problem.clone(),
    }));
    let mut reachable: HashSet<ObjectId> = walk.commit_ids();
    for entries in walk.histories.values() {
        for (commit, notes) in crate::notes::model_notes(entries) {
            for n in notes {
                if kind_of(&n) != Some(Kind::Note) {
                    rep.problems.push(Problem {
                        item: format!("note {n} of commit {}", commit.short()),
                        problem: "missing, corrupt or not a note".into(),
                    });
                }
                reachable.insert(*n);
            }
        }
    }
    for (model, entries) in &walk.histories {
        for (id, kind) in crate::ops::runs::objects_named(entries) {
            if kind_of(&id) != Some(kind) {
                rep.problems.push(Problem {
                    item: format!("{} {} of a run of {model}", kind.name(), id.short()),
                    problem: format!("missing, corrupt or not a {}", kind.name()),
                });
            }
            reachable.insert(id);
        }
    }
    let mut checked_manifests: HashSet<ObjectId> = HashSet::new();
    for v in &walk.versions {
        rep.commits += 1;
        let id = v.id;
        if let Some(p) = v.commit.git.as_ref().and_then(|g| g.patch) {
            reachable.insert(p);
            if kind_of(&p) != Some(Kind::Blob) {
                rep.problems.push(Problem {
                    item: format!("commit {} code patch {p}", id.short()),
                    problem: "missing, corrupt or not a blob".into(),
                });
            }
        }
        for l in v.commit.recipe.iter().flat_map(|r| r.blobs()) {
            reachable.insert(l);
            if kind_of(&l) != Some(Kind::Blob) {
                rep.problems.push(Problem {
                    item: format!("commit {} run log or curves {l}", id.short()),
                    problem: "missing, corrupt or not a blob".into(),
                });
            }
        }
        // Pruned by gc, or fetched without its data (the chunks are on a remote).
        let pruned = gc_marks::is_pruned(repo, &id) || gc_marks::is_remote_only(repo, &id);
        for f in reach::data_files(&v.commit) {
            reachable.insert(*f.manifest);
            let fitem = format!("commit {} file {}", id.short(), f.path);
            let first = checked_manifests.insert(*f.manifest);
            match reach::read_manifest(repo, f) {
                Ok(m) => {
                    reachable.extend(m.chunks.iter().map(|c| c.id));
                    if !first || pruned {
                        // A pruned version's chunks may be gone: that is not damage.
                        continue;
                    }
                    if let Err(e) = check_chunks(repo, &kinds, &m) {
                        rep.problems.push(Problem {
                            item: fitem,
                            problem: e.to_string(),
                        });
                    }
                }
                // Manifests are kept for pruned versions too; stores pruned by older mreg
                // versions lack them, which is not damage.
                Err(_) if pruned && !repo.objects().exists(&f.manifest) => {}
                Err(e) => {
                    if first {
                        rep.problems.push(Problem {
                            item: fitem,
                            problem: e.to_string(),
                        })
                    }
                }
            }
        }
    }
    // Bases of delta chunks are in use too. (Step 1 decoded every delta through its chain,
    // so a broken chain, a missing base or an unreadable header is already a problem.)
    let chunks: Vec<ObjectId> = reachable
        .iter()
        .filter(|id| kind_of(id) == Some(Kind::Chunk))
        .copied()
        .collect();
    let _already_reported = reach::keep_delta_bases(repo, &mut reachable, chunks);
    // Commit objects no history names: an interrupted commit (its pending marker says so)
    // is a warning; any other is evidence of a lost history line, and a problem.
    let candidates: Vec<ObjectId> = kinds
        .iter()
        .filter(|(id, (k, _))| *k == Kind::Commit && !reachable.contains(*id))
        .map(|(id, _)| *id)
        .collect();
    for o in reach::orphans(repo, &walk, candidates, std::time::SystemTime::now()) {
        let model = o.model.as_ref().map_or("?".to_string(), |m| m.to_string());
        let item = format!("commit {} of model {model}", o.id);
        match &o.doubt {
            None => rep.warnings.push(Problem {
                item,
                problem: "an interrupted commit (never recorded in its history): gc removes it after the grace period (gc.grace)".into(),
            }),
            Some(d) => rep.problems.push(Problem {
                item,
                problem: format!(
                    "no history names this version: {d}. gc keeps it and its data. To find its history, restore models/{model}/log from a backup or `mreg pull` from a remote that has it; to keep it as it is, `mreg tag recovered-{} {}`",
                    o.id.short(),
                    o.id
                ),
            }),
        }
        // Not dangling: gc keeps it (or removes it as an interrupted commit, knowingly).
        reachable.insert(*o.id);
        if let Some(c) = &o.commit {
            let (d, _) = reach::version_data(repo, &o.id, c);
            reachable.extend(d.metadata);
            reachable.extend(d.chunks);
        }
    }
    rep.dangling = kinds.keys().filter(|id| !reachable.contains(id)).count();
    Ok(rep)
}

/// Every chunk of a manifest is present, intact, a chunk, and as long as the manifest says.
fn check_chunks(repo: &Repo, kinds: &HashMap<ObjectId, (Kind, u64)>, m: &Manifest) -> Result<()> {
    for c in &m.chunks {
        match kinds.get(&c.id) {
            Some((Kind::Chunk, len)) if *len == c.len => {}
            Some((Kind::Chunk, len)) => {
                return Err(Error::CorruptObject {
                    id: c.id.to_hex(),
                    why: format!("chunk holds {len} bytes, the manifest says {}", c.len),
                })
            }
            Some((k, _)) => {
                return Err(Error::CorruptObject {
                    id: c.id.to_hex(),
                    why: format!("listed as a chunk but is a {}", k.name()),
                })
            }
            None if repo.objects().exists(&c.id) => {
                return Err(Error::CorruptObject {
                    id: c.id.to_hex(),
                    why: "chunk failed verification".into(),
                })
            }
            None => return Err(Error::MissingObject { id: c.id.to_hex() }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::{Commit, Environment, FileEntry};
    use crate::filestore::ChunkRef;
    use crate::history::MoveInfo;
    use crate::names::ModelName;

    /// A manifest whose chunk lengths add up to its size but disagree with the chunks
    /// themselves (its id is honest: it was crafted, not corrupted) is reported.
    #[test]
    fn fsck_checks_chunk_lengths_against_the_manifest() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repo::init(d.path()).unwrap();
        let a = repo.objects().put(Kind::Chunk, &[1u8; 10]).unwrap().id;
        let b = repo.objects().put(Kind::Chunk, &[2u8; 20]).unwrap().id;
        let mut content = vec![1u8; 10];
        content.extend([2u8; 20]);
        let file = ObjectId::hash(&content);
        let m = Manifest {
            size: 30,
            blake3: file,
            chunks: vec![ChunkRef { id: a, len: 20 }, ChunkRef { id: b, len: 10 }],
        };
        let mid = repo.objects().put(Kind::Manifest, &m.encode()).unwrap().id;
        repo.objects().flush().unwrap();
        let c = Commit {
            format: 1,
            model: ModelName::new("m").unwrap(),
            parents: vec![],
            message: String::new(),
            author: "t".into(),
            created_at: crate::Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            files: vec![FileEntry {
                path: "w.bin".into(),
                blake3: crate::id::FileId(file),
                size: 30,
                executable: false,
                manifest: crate::id::ManifestId(mid),
            }],
            params: serde_json::json!({}),
            metrics: Default::default(),
            datasets: vec![],
            labels: vec![],
            environment: Environment::default(),
            git: None,
            derived_from: vec![],
            recipe: None,
            roots: vec![],
            unsafe_pickles: vec![],
        };
        let id = repo.write_commit(&c).unwrap();
        repo.transact(
            &c.model,
            MoveInfo {
                time: crate::Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
                author: "t".into(),
                message: String::new(),
            },
            crate::history::Action::Commit,
            |t| {
                t.set_head(id);
                Ok(())
            },
        )
        .unwrap();
        let rep = fsck(&repo).unwrap();
        assert!(
            rep.problems.iter().any(|p| p
                .problem
                .contains("chunk holds 10 bytes, the manifest says 20")),
            "{:?}",
            rep.problems
        );
    }
}
