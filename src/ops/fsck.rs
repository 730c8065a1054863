//! `fsck`: verify every object, commit, ref and history log.
//!
//! 1. Every object file is read, decoded and hashed (in parallel); a mismatch, a bad
//!    header or a stray file is a problem.
//! 2. Every model's history log is checked: parseable lines, the hash chain, and that each
//!    entry's changes lead from the previous state to its own. A torn last line (a crash
//!    during an append) is a warning: readers ignore it and the next write removes it.
//! 3. Every commit named by any history entry, and their ancestors, must be a valid commit
//!    whose manifests and chunks are present and intact (unless gc pruned its data).
//!
//! Objects nobody references (left by a crash before the ref moved) are counted as
//! dangling: harmless, and removed by gc.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::filestore::Manifest;
use crate::gc_marks;
use crate::id::ObjectId;
use crate::object::Kind;
use crate::repo::Repo;

#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// What is broken: `object <id>`, `commit <id>`, `model <name>`, a path...
    pub item: String,
    pub problem: String,
}

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
    let (ids, strays) = repo.objects().list()?;
    for s in strays {
        rep.problems.push(Problem {
            item: s.display().to_string(),
            problem: "not a valid object file name".into(),
        });
    }
    rep.objects = ids.len();
    let checked: Vec<(ObjectId, Result<Kind>)> = ids
        .par_iter()
        .map(|id| (*id, repo.objects().get(id).map(|(k, _)| k)))
        .collect();
    let mut kinds: HashMap<ObjectId, Kind> = HashMap::new();
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

    // History logs and the commits they name.
    let mut roots: Vec<(ObjectId, String)> = Vec::new();
    let mut noted: Vec<ObjectId> = Vec::new();
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
        match log.entries() {
            Ok((entries, torn)) => {
                if torn {
                    rep.warnings.push(Problem {
                        item: item.clone(),
                        problem: "torn last line from an interrupted write (ignored; removed by the next write)".into(),
                    });
                }
                rep.history_entries += entries.len();
                for (commit, notes) in crate::notes::model_notes(&entries) {
                    for n in notes {
                        if kinds.get(&n) != Some(&Kind::Note) {
                            rep.problems.push(Problem {
                                item: format!("note {n} of commit {}", commit.short()),
                                problem: "missing, corrupt or not a note".into(),
                            });
                        }
                        noted.push(n);
                    }
                }
                for e in entries {
                    for id in e.state.refs().values() {
                        roots.push((*id, format!("model {m} history entry {}", e.seq)));
                    }
                }
            }
            Err(e) => rep.problems.push(Problem {
                item,
                problem: e.to_string(),
            }),
        }
    }

    let mut reachable: HashSet<ObjectId> = noted.into_iter().collect();
    let mut checked_manifests: HashSet<ObjectId> = HashSet::new();
    let mut stack = roots;
    while let Some((id, from)) = stack.pop() {
        if !reachable.insert(id) {
            continue;
        }
        let item = format!("commit {id}");
        match kinds.get(&id) {
            Some(Kind::Commit) => {}
            Some(k) => {
                rep.problems.push(Problem {
                    item,
                    problem: format!("named by {from} but is a {}", k.name()),
                });
                continue;
            }
            None => {
                let why = if repo.objects().exists(&id) {
                    "is corrupt"
                } else {
                    "is missing"
                };
                rep.problems.push(Problem {
                    item,
                    problem: format!("named by {from} but {why}"),
                });
                continue;
            }
        }
        let c = match repo.read_commit(&id) {
            Ok(c) => c,
            Err(e) => {
                rep.problems.push(Problem {
                    item,
                    problem: e.to_string(),
                });
                continue;
            }
        };
        rep.commits += 1;
        for p in &c.parents {
            stack.push((*p, format!("commit {} (parent)", id.short())));
        }
        if let Some(p) = c.git.as_ref().and_then(|g| g.patch) {
            reachable.insert(p);
            if kinds.get(&p) != Some(&Kind::Blob) {
                rep.problems.push(Problem {
                    item: format!("commit {} code patch {p}", id.short()),
                    problem: "missing, corrupt or not a blob".into(),
                });
            }
        }
        for d in &c.derived_from {
            stack.push((*d, format!("commit {} (derived from)", id.short())));
        }
        let pruned = gc_marks::is_pruned(repo, &id);
        let files = c
            .files
            .iter()
            .chain(c.datasets.iter().flat_map(|d| d.stored.iter()));
        for f in files {
            reachable.insert(f.manifest);
            if pruned {
                continue;
            }
            let fitem = format!("commit {} file {}", id.short(), f.path);
            if !checked_manifests.insert(f.manifest) {
                continue;
            }
            match check_manifest(repo, &kinds, &f.manifest, f.blake3, f.size) {
                Ok(chunks) => reachable.extend(chunks),
                Err(e) => rep.problems.push(Problem {
                    item: fitem,
                    problem: e.to_string(),
                }),
            }
        }
    }
    // Chunks of every readable manifest count as referenced (pruned commits included).
    for id in kinds
        .iter()
        .filter(|(_, k)| **k == Kind::Manifest)
        .map(|(id, _)| *id)
    {
        if reachable.contains(&id) {
            if let Ok(b) = repo.objects().get_kind(&id, Kind::Manifest) {
                if let Ok(m) = Manifest::parse(&id, &b) {
                    reachable.extend(m.chunks.iter().map(|c| c.id));
                }
            }
        }
    }
    rep.dangling = kinds.keys().filter(|id| !reachable.contains(id)).count();
    Ok(rep)
}

fn check_manifest(
    repo: &Repo,
    kinds: &HashMap<ObjectId, Kind>,
    id: &ObjectId,
    blake3: ObjectId,
    size: u64,
) -> Result<Vec<ObjectId>> {
    let bytes = repo.objects().get_kind(id, Kind::Manifest)?;
    let m = Manifest::parse(id, &bytes)?;
    if m.blake3 != blake3 || m.size != size {
        return Err(Error::CorruptObject {
            id: id.to_hex(),
            why: "manifest does not match the commit's file entry".into(),
        });
    }
    for c in &m.chunks {
        match kinds.get(&c.id) {
            Some(_) => {}
            None if repo.objects().exists(&c.id) => {
                return Err(Error::CorruptObject {
                    id: c.id.to_hex(),
                    why: "chunk failed verification".into(),
                })
            }
            None => return Err(Error::MissingObject { id: c.id.to_hex() }),
        }
    }
    Ok(m.chunks.iter().map(|c| c.id).collect())
}
