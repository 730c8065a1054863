//! `fsck --remote`: verify everything a remote holds, and what it says against this store.
//!
//! Every object (loose or packed) is downloaded, decoded and checked against its id; every
//! model's history is read afresh and verified as a chain; every line is replayed against
//! the rules every move obeys (`refs::rules`); everything a line names must be present with
//! its data (unless its origin pruned it before pushing). Against this store: the lines it
//! verified before are still there unchanged, lines carrying its writer id are its moves,
//! and a fully pulled store's refs are the remote's plus its unpublished moves.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::key::{Key, Prefix};
use super::log::{self, RemoteLine, TrackFile};
use super::pack;
use super::parallel;
use super::push::{check_line, pending};
use super::sync::{
    hex_id, line_refs, OurMoves, PackCheck, Session, Verified, MAX_OBJECT_READ, PRUNED,
};
use crate::commit::Commit;
use crate::error::{Error, Result};
use crate::filestore::Manifest;
use crate::history::{Action, RefState};
use crate::id::{CommitId, ObjectId};
use crate::names::ModelName;
use crate::object::{self, Kind};
use crate::ops::Progress;
use crate::reach;
use crate::repo::Repo;

/// What `fsck --remote` found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RemoteFsck {
    pub remote: String,
    pub url: String,
    pub objects: usize,
    pub bytes: u64,
    pub models: usize,
    pub lines: usize,
    /// Packs without an index (left by an interrupted push; never read).
    pub unindexed_packs: usize,
    pub problems: Vec<reach::Problem>,
}

impl RemoteFsck {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What a fresh read of a remote's history of `m` (`fresh`, its `lines`) says against what
/// this store verified and holds (`mine`):
/// - the lines this store verified before are still there, unchanged (a rewritten or
///   removed line is noticed at once, not only when the next line arrives);
/// - when this store has applied every remote line, its refs are exactly the remote's
///   plus its own unpublished moves (issue 32): anything else is a contradiction that
///   every command would otherwise report as "in sync". `pull` repairs it.
fn against_this_store(
    repo: &Repo,
    remote: &str,
    m: &ModelName,
    mine: &TrackFile,
    fresh: &TrackFile,
    lines: &[RemoteLine],
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let k = mine.track.seq;
    if k == 0 {
        return Ok(out);
    }
    if fresh.track.seq < k {
        out.push(format!(
            "the remote has {} history lines, this store verified {k} before: lines were removed",
            fresh.track.seq
        ));
        return Ok(out);
    }
    // The hash of line k is the `prev` of line k + 1, or the fresh chain's last hash.
    let now = match lines.iter().find(|l| l.seq == k + 1) {
        Some(next) => next.prev,
        None => fresh.track.last_hash,
    };
    if now != mine.track.last_hash {
        out.push(format!(
            "line {k}, verified by this store before, has been rewritten on the remote"
        ));
        return Ok(out);
    }
    if mine.track.applied == k && fresh.track.seq == k {
        let mut want = fresh.track.state.clone();
        let pruned = fresh.pruned_versions()?;
        for e in pending(repo, remote, m, &mine.track)?.0 {
            if let Some(ch) =
                check_line(&want, &e, mine.track.partial.contains(&e.seq), &pruned).changes()
            {
                log::apply(&mut want, ch).expect("checked");
            }
        }
        let here = repo.model_state(m)?.refs();
        let want = want.refs();
        let mut diff = Vec::new();
        for name in here.keys().chain(want.keys()) {
            let (a, b) = (here.get(name), want.get(name));
            if a != b && !diff.iter().any(|(n, _, _)| n == name) {
                diff.push((name.clone(), a.copied(), b.copied()));
            }
        }
        if !diff.is_empty() {
            out.push(format!(
                "this store's refs differ from the remote's plus its unpublished moves ({}); run `mreg pull {remote}` to take the remote's state",
                diff.iter()
                    .map(|(n, a, b)| format!(
                        "{} here {}, expected {}",
                        n.describe(),
                        a.map_or("(unset)".into(), |c| c.short()),
                        b.map_or("(unset)".into(), |c| c.short())
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(out)
}

/// Verify everything a remote holds: each object is well-formed and named by its hash,
/// each history is a valid chain, and everything a line names is present with its data.
pub fn fsck_remote(
    repo: &Repo,
    remote: Option<&str>,
    progress: &dyn Progress,
) -> Result<RemoteFsck> {
    let s = Session::open(repo, remote)?;
    s.check_marker(false)?;
    let mut rep = RemoteFsck {
        remote: s.name.clone(),
        url: s.backend.describe(),
        ..Default::default()
    };
    let listed = s.backend.list(&Prefix::Objects)?;
    let problem = |item: String, p: String| reach::Problem { item, problem: p };
    let mut keys = Vec::new();
    for (name, _) in &listed.unknown {
        rep.problems
            .push(problem(name.clone(), "not an object name".into()));
    }
    for (key, size) in &listed.keys {
        match key {
            Key::Object(id) => keys.push((*id, *size)),
            other => rep
                .problems
                .push(problem(other.path(), "not an object name".into())),
        }
    }
    progress.start("verifying", keys.iter().map(|k| k.1).sum());
    let kinds = parallel(
        &keys,
        s.jobs(),
        |(id, size)| -> Result<(ObjectId, Verified)> {
            let r = match s.backend.get(&Key::Object(*id), MAX_OBJECT_READ)? {
                None => Err("listed but unreadable".to_string()),
                Some(buf) => match object::decode(id, &buf) {
                    Ok((k, data)) => Ok((
                        k,
                        matches!(k, Kind::Commit | Kind::Manifest).then_some(data),
                    )),
                    Err(e) => Err(e.to_string()),
                },
            };
            progress.advance(*size);
            Ok((*id, r))
        },
    )?;
    progress.finish();
    rep.objects = keys.len();
    rep.bytes = keys.iter().map(|k| k.1).sum();
    // Packs: each named by its hash, each indexed object verified like a loose one.
    let mut kinds = kinds;
    let pack_list = s.backend.list(&Prefix::Packs)?;
    let mut packs = Vec::new();
    for (name, _) in &pack_list.unknown {
        rep.problems
            .push(problem(name.clone(), "not a pack name".into()));
    }
    for (key, size) in &pack_list.keys {
        match key {
            Key::Pack(id) => {
                if pack_list.size_of(&Key::PackIndex(*id)).is_some() {
                    packs.push((*id, *size));
                } else {
                    rep.unindexed_packs += 1; // an interrupted push: nothing refers to it
                }
            }
            Key::PackIndex(id) => {
                if pack_list.size_of(&Key::Pack(*id)).is_none() {
                    rep.problems
                        .push(problem(key.path(), "index without its pack".into()));
                }
            }
            other => rep
                .problems
                .push(problem(other.path(), "not a pack name".into())),
        }
    }
    let verified = parallel(&packs, s.jobs(), |(id, size)| -> Result<PackCheck> {
        let mut errs = Vec::new();
        let mut out = Vec::new();
        let Some(buf) = s.backend.get(&Key::Pack(*id), pack::MAX_PACK_READ)? else {
            return Ok((out, vec!["listed but unreadable".into()]));
        };
        if ObjectId::hash(&buf) != *id {
            errs.push("content does not hash to its name".into());
        }
        let idx = match s.backend.get(&Key::PackIndex(*id), pack::MAX_INDEX)? {
            Some(b) => pack::parse_index(id, &b, Some(*size)),
            None => return Ok((out, vec!["index listed but unreadable".into()])),
        };
        match idx {
            Err(e) => errs.push(e.to_string()),
            Ok(idx) => {
                for e in idx.objects {
                    let enc = &buf[e.offset as usize..(e.offset + e.len) as usize];
                    let r = match object::decode(&e.id, enc) {
                        Ok((k, data)) => Ok((
                            k,
                            matches!(k, Kind::Commit | Kind::Manifest).then_some(data),
                        )),
                        Err(err) => Err(err.to_string()),
                    };
                    out.push((e.id, r));
                }
            }
        }
        progress.advance(*size);
        Ok((out, errs))
    })?;
    for ((id, size), (objs, errs)) in packs.iter().zip(verified) {
        rep.bytes += size;
        rep.objects += objs.len();
        for e in errs {
            rep.problems.push(problem(format!("pack {id}"), e));
        }
        kinds.extend(objs);
    }
    let mut kind_of: BTreeMap<ObjectId, Kind> = BTreeMap::new();
    let mut commits: BTreeMap<ObjectId, Vec<u8>> = BTreeMap::new();
    let mut manifests: BTreeMap<ObjectId, Vec<u8>> = BTreeMap::new();
    for (id, r) in kinds {
        match r {
            Ok((k, data)) => {
                kind_of.insert(id, k);
                match (k, data) {
                    (Kind::Commit, Some(d)) => {
                        commits.insert(id, d);
                    }
                    (Kind::Manifest, Some(d)) => {
                        manifests.insert(id, d);
                    }
                    _ => {}
                }
            }
            Err(e) => rep.problems.push(problem(format!("object {id}"), e)),
        }
    }
    let need = |rep: &mut RemoteFsck, id: &ObjectId, kind: Kind, item: &str| -> bool {
        match kind_of.get(id) {
            Some(k) if *k == kind => true,
            Some(k) => {
                rep.problems.push(problem(
                    item.to_string(),
                    format!("{id} is a {}, expected a {}", k.name(), kind.name()),
                ));
                false
            }
            None => {
                rep.problems.push(problem(
                    item.to_string(),
                    format!("{} {id} is missing", kind.name()),
                ));
                false
            }
        }
    };
    let mut checked = HashSet::new();
    let models = s.remote_models()?;
    rep.models = models.len();
    // Versions whose origin pruned their data before pushing them (a prune line names
    // each): their chunks are not expected on the remote.
    let mut pruned_at_origin: HashSet<ObjectId> = HashSet::new();
    let tmp = tempfile::tempdir_in(repo.tmp_dir())
        .map_err(|e| Error::io("creating temp dir in", repo.tmp_dir(), e))?;
    for m in models {
        let mut tf = TrackFile::open(tmp.path().to_path_buf(), repo.tmp_dir(), &m)?;
        let ours = OurMoves::read(repo, &m)?;
        let lines = match tf.sync(&s.backend, &ours.identity(&s.store_id)) {
            Ok(l) => l,
            Err(e) => {
                rep.problems
                    .push(problem(format!("model {m} history"), e.to_string()));
                continue;
            }
        };
        rep.lines += lines.len();
        // Every line against the rules every move obeys (what pull would refuse).
        let model_of = |id: &CommitId| {
            commits
                .get(&**id)
                .and_then(|b| Commit::decode(id, b).ok())
                .map(|c| c.model)
        };
        let mut state = RefState::default();
        for l in &lines {
            let mut after = state.clone();
            if log::apply(&mut after, &l.changes).is_ok() {
                if let Err(why) = crate::rules::check_move(&m, &state, &after, &l.extra, &model_of)
                {
                    rep.problems.push(problem(
                        format!("model {m} line {} ({} by {})", l.seq, l.action, l.author),
                        format!("breaks a rule every move obeys (pull refuses it): {why}"),
                    ));
                }
            }
            state = after;
        }
        for n in &tf.impostors {
            rep.problems.push(problem(
                format!("model {m} line {n}"),
                "carries this store's writer id but is not one of its moves: a restored copy of this store or a forged line (this store treats it as another writer's)".into(),
            ));
        }
        pruned_at_origin.extend(
            lines
                .iter()
                .filter(|l| l.action == Action::Prune)
                .filter_map(|l| hex_id(l.extra.get(PRUNED))),
        );
        if repo.model_exists(&m) {
            let mine = s.track(&m)?;
            rep.problems.extend(
                against_this_store(repo, &s.name, &m, &mine, &tf, &lines)?
                    .into_iter()
                    .map(|p| problem(format!("model {m}"), p)),
            );
        }
        for l in &lines {
            let item = format!("model {m} line {}", l.seq);
            let (cs, ns) = line_refs(&l.changes, &l.extra);
            let blobs = crate::ops::runs::blobs_of(&l.extra);
            for n in ns {
                let kind = if blobs.contains(&n) {
                    Kind::Blob
                } else {
                    Kind::Note
                };
                need(&mut rep, &n, kind, &item);
            }
            let mut stack = cs;
            while let Some(id) = stack.pop() {
                if !checked.insert(id) || !need(&mut rep, &id, Kind::Commit, &item) {
                    continue;
                }
                let Some(bytes) = commits.get(&id) else {
                    continue;
                };
                let c = match Commit::decode(&id, bytes) {
                    Ok(c) => c,
                    Err(e) => {
                        rep.problems
                            .push(problem(format!("commit {id}"), e.to_string()));
                        continue;
                    }
                };
                stack.extend(c.parents.iter().chain(c.derived_from.iter()).map(|p| **p));
                let citem = format!("commit {}", id.short());
                if let Some(p) = c.git.as_ref().and_then(|g| g.patch) {
                    need(&mut rep, &p, Kind::Blob, &citem);
                }
                for l in c.recipe.iter().flat_map(|r| r.blobs()) {
                    need(&mut rep, &l, Kind::Blob, &citem);
                }
                for f in reach::data_files(&c) {
                    let fitem = format!("commit {} file {}", id.short(), f.path);
                    if !need(&mut rep, &f.manifest, Kind::Manifest, &fitem) {
                        continue;
                    }
                    let Some(mb) = manifests.get(&f.manifest) else {
                        continue;
                    };
                    match Manifest::parse(&f.manifest, mb) {
                        Ok(_) if pruned_at_origin.contains(&id) => {}
                        Ok(man) => {
                            for ch in &man.chunks {
                                need(&mut rep, &ch.id, Kind::Chunk, &fitem);
                            }
                        }
                        Err(e) => rep.problems.push(problem(fitem, e.to_string())),
                    }
                }
            }
        }
    }
    Ok(rep)
}
