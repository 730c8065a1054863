//! pull: replay a remote's moves onto the local history, reconcile the local refs to the
//! remote's state plus this store's unpublished moves, and re-apply the model's policy.

use std::collections::BTreeMap;

use serde::Serialize;

use super::log::{self, RemoteLine, TrackFile};
use std::path::PathBuf;

use super::config::{self, RemoteSpec};
use super::key::Key;
use super::push::{check_line, pending, Check};
use super::sync::{ensure_data, fetch_in, hex_id, FetchReport, OurMoves, Session, PRUNED, SMALL};
use crate::error::{Error, Result};
use crate::gc_marks;
use crate::history::{Action, MoveInfo, PULLED_FROM};
use crate::id::CommitId;
use crate::names::ModelName;
use crate::ops::Progress;
use crate::reach;
use crate::repo::Repo;

/// A local move that was not pushed and that the remote contradicts: the remote's value
/// was taken; the local line stays in the history but will not be published.
#[derive(Clone, Debug, Serialize)]
pub struct DroppedMove {
    pub model: ModelName,
    #[serde(rename = "ref")]
    pub reference: String,
    pub local_seq: u64,
    pub action: String,
    /// The move's reason (`-m`), so its author can redo it.
    pub message: String,
    /// What the local move had set, and what the remote has.
    pub local: Option<CommitId>,
    pub remote: Option<CommitId>,
    /// A commit: its version is kept and will be published; only its other moves (this
    /// one among them) were replaced.
    pub version_kept: bool,
    /// The version the commit recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<CommitId>,
    /// The move pointed the ref at this version, which the remote pruned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned_on_remote: Option<CommitId>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PullReport {
    pub fetch: FetchReport,
    /// Remote moves replayed onto the local history, per model.
    pub applied: BTreeMap<String, usize>,
    pub dropped: Vec<DroppedMove>,
    /// Per model, the refs pull corrected because the store's state had diverged from the
    /// remote's plus its own unpublished moves (`ref old -> new`).
    pub reconciled: BTreeMap<String, Vec<String>>,
    /// Remote lines not applied because they break a rule every move obeys (each names the
    /// remote, model, line and rule); nothing after them in their model was applied.
    pub refused_lines: Vec<String>,
    /// Per model, the aliases its policy moved after the pull (`candidate`, `best`): a
    /// local move, published by the next push.
    pub policy: BTreeMap<String, Vec<crate::policy::PolicyMove>>,
    /// Chunks (and manifests) downloaded into the store (`clone --data`).
    pub data_objects: usize,
    pub data_bytes: u64,
}

/// Fetch, then replay the remote's moves onto the local history (all models, or `models`).
pub fn pull(
    repo: &Repo,
    remote: Option<&str>,
    models: &[ModelName],
    progress: &dyn Progress,
) -> Result<PullReport> {
    let s = Session::open(repo, remote)?;
    let _lock = s.lock()?;
    let fetch = fetch_in(&s, progress)?;
    let mut report = PullReport {
        fetch,
        ..Default::default()
    };
    let targets = if models.is_empty() {
        s.remote_models()?
    } else {
        models.to_vec()
    };
    for m in targets {
        let mut tf = s.track(&m)?;
        let lines = tf.cached_lines_after(tf.track.applied)?;
        let ours = OurMoves::read(repo, &m)?;
        let mut applied = 0;
        let mut refused = false;
        for l in lines {
            // Only this store's own moves are skipped: a line that merely carries its
            // writer id (a restored copy of this store) is another writer's move.
            if !(l.writer.store == s.store_id && ours.is(&l)) {
                match apply_remote_line(repo, &s.name, &m, &l) {
                    Ok(()) => applied += 1,
                    // A line that breaks a rule every local move obeys is not applied,
                    // nor anything after it in this model; other models go on.
                    Err(Error::BrokenRule { why, .. }) => {
                        report.refused_lines.push(format!(
                            "remote {} model {m} line {} ({} by {}): {why}",
                            s.name, l.seq, l.action, l.author
                        ));
                        refused = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            tf.track.applied = l.seq;
            tf.save()?;
        }
        if applied > 0 {
            report.applied.insert(m.to_string(), applied);
        }
        if refused {
            tf.save()?;
            continue;
        }
        // The local refs become exactly the remote's state plus the local moves not
        // pushed yet, replayed one by one in order; a move the remote now contradicts is
        // dropped (it will never publish) and reported. Computed under the model's lock,
        // so a local move made meanwhile is either in the replay or after it, never lost.
        let info = MoveInfo {
            time: crate::Timestamp::now(),
            author: format!("mreg pull from {}", s.name),
            message: String::new(),
        };
        let mut drops = Vec::new();
        let mut fixed = Vec::new();
        let pruned = tf.pruned_versions()?;
        repo.transact(&m, info, Action::Other(RECONCILE.into()), |t| {
            let mut sim = tf.track.state.clone();
            for e in pending(repo, &s.name, &m, &tf.track)?.0 {
                let check = check_line(&sim, &e, tf.track.partial.contains(&e.seq), &pruned);
                if let Some(ch) = check.changes() {
                    log::apply(&mut sim, ch).expect("checked");
                }
                let version_kept = matches!(check, Check::VersionOnly(..));
                if let Check::Conflict(c) | Check::VersionOnly(_, Some(c)) = check {
                    let local = e
                        .changes
                        .iter()
                        .find(|x| x.name == c.name)
                        .and_then(|x| x.new);
                    drops.push(DroppedMove {
                        model: m.clone(),
                        reference: c.name.describe(),
                        local_seq: e.seq,
                        action: e.action.to_string(),
                        message: e.message.clone(),
                        local,
                        remote: c.now,
                        version_kept,
                        version: crate::versions::committed(&e.action, &e.changes),
                        pruned_on_remote: c.pruned_target,
                    });
                }
            }
            let now = t.state().refs();
            let want = sim.refs();
            if now != want {
                for name in now.keys().chain(want.keys()) {
                    let (a, b) = (now.get(name).copied(), want.get(name).copied());
                    if a != b {
                        fixed.push(format!(
                            "{} {} -> {}",
                            name.describe(),
                            a.map_or("(unset)".into(), |c| c.short()),
                            b.map_or("(unset)".into(), |c| c.short())
                        ));
                    }
                }
                fixed.sort();
                fixed.dedup();
                for name in now.keys().chain(want.keys()) {
                    t.set_ref(name, want.get(name).copied());
                }
                t.set_extra(PULLED_FROM, format!("{} {}", s.name, tf.track.seq).into());
                t.set_extra(
                    RECONCILE,
                    format!(
                        "refs set to the remote's state plus this store's unpublished moves: {}",
                        fixed.join(", ")
                    )
                    .into(),
                );
            }
            Ok(())
        })?;
        for d in &drops {
            let list = if d.version_kept {
                &mut tf.track.partial
            } else {
                &mut tf.track.dropped
            };
            if !list.contains(&d.local_seq) {
                list.push(d.local_seq);
            }
        }
        tf.track.dropped.sort_unstable();
        tf.track.partial.sort_unstable();
        report.dropped.extend(drops);
        if !fixed.is_empty() {
            report.reconciled.insert(m.to_string(), fixed);
        }
        tf.save()?;
        let moves = reapply_policy(repo, &s.name, &m, &mut tf)?;
        if !moves.is_empty() {
            report.policy.insert(m.to_string(), moves);
        }
    }
    Ok(report)
}

/// Action of the local line with which `pull` re-applies a model's policy.
pub const POLICY_APPLY: &str = "policy apply";

/// After a pull, the model's policy weighs this store's versions whose own policy moves a
/// remote refused, and `best` is recomputed over every version (`policy::reapply`). The
/// moves are a local line like any other: the next push publishes it, compare-and-swapped.
fn reapply_policy(
    repo: &Repo,
    remote: &str,
    m: &ModelName,
    tf: &mut TrackFile,
) -> Result<Vec<crate::policy::PolicyMove>> {
    if repo.policy(m).is_none() {
        return Ok(Vec::new());
    }
    let todo: Vec<u64> = tf
        .track
        .partial
        .iter()
        .copied()
        .filter(|s| *s > tf.track.policy_reapplied)
        .collect();
    let entries = repo.model_log(m).entries()?.0;
    let versions: Vec<CommitId> = todo
        .iter()
        .filter_map(|s| entries.get(s.checked_sub(1)? as usize))
        .filter_map(|e| crate::versions::committed(&e.action, &e.changes))
        .collect();
    let info = MoveInfo {
        time: crate::Timestamp::now(),
        author: format!("mreg pull from {remote}"),
        message: "the policy re-applied to the versions pulled".into(),
    };
    let mut moves = Vec::new();
    repo.transact(m, info, Action::Other(POLICY_APPLY.into()), |t| {
        moves = crate::policy::reapply(repo, m, t, &versions)?;
        Ok(())
    })?;
    if let Some(last) = todo.last() {
        tf.track.policy_reapplied = *last;
        tf.save()?;
    }
    Ok(moves)
}

/// How a remote refused a local history line (a pull took the remote's move instead).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Unpublished {
    /// Remotes that will never publish the line.
    pub remotes: Vec<String>,
    /// Remotes that published only the version of this commit, not its other moves.
    pub version_only: Vec<String>,
}

/// Local history lines of `model` that a remote refused, whole or (a commit's other moves)
/// in part: line number -> how. `history` marks them, so that they do not read as moves
/// everyone saw.
pub fn never_published(repo: &Repo, model: &ModelName) -> Result<BTreeMap<u64, Unpublished>> {
    let mut out: BTreeMap<u64, Unpublished> = BTreeMap::new();
    let dir = repo.store_dir().join("remotes");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    let mut names: Vec<String> = rd
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let tf = TrackFile::open(dir.join(&name).join("models"), repo.tmp_dir(), model)?;
        for seq in &tf.track.dropped {
            out.entry(*seq).or_default().remotes.push(name.clone());
        }
        for seq in &tf.track.partial {
            out.entry(*seq).or_default().version_only.push(name.clone());
        }
    }
    Ok(out)
}

/// Action (and extra key) of the local line with which `pull` sets a model's refs to the
/// remote's state plus the store's unpublished moves, when they differed.
pub const RECONCILE: &str = "reconcile";

/// Replay one remote line as a local move (the remote's value wins on a conflict; the
/// caller reports the local moves that lost).
fn apply_remote_line(repo: &Repo, remote: &str, model: &ModelName, l: &RemoteLine) -> Result<()> {
    let info = MoveInfo {
        time: l.time.clone(),
        author: l.author.clone(),
        message: l.message.clone(),
    };
    // `transact` checks the move against the rules every move obeys (`refs::rules`).
    repo.transact(model, info, l.action.clone(), |t| {
        for c in &l.changes {
            t.set_ref(&c.name, c.new);
        }
        for (k, v) in &l.extra {
            t.set_extra(k, v.clone());
        }
        t.set_extra(PULLED_FROM, format!("{remote} {}", l.seq).into());
        Ok(())
    })?;
    // A version its origin pruned before pushing: its data is nowhere. Marked pruned here
    // (when its data is not here either), so checkout refuses it clearly and fsck does not
    // call the missing chunks damage.
    if l.action == Action::Prune {
        if let Some(id) = hex_id(l.extra.get(PRUNED)) {
            if let Ok(c) = repo.read_commit(&id) {
                // A prune made for the team (`prune --remote`): the version's data is gone
                // everywhere, a copy here included (local gc frees it).
                let for_everyone = l.extra.contains_key(super::REMOTE_PRUNE);
                if for_everyone || !reach::files_missing_data(repo, &c).is_empty() {
                    gc_marks::mark_pruned(repo, &id, &l.time.to_string())?;
                }
            }
        }
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------
// clone

#[derive(Clone, Debug)]
pub struct CloneRequest {
    pub spec: RemoteSpec,
    /// The directory to create the store in (its `.modelreg`).
    pub dir: PathBuf,
    /// The remote's name in the new store.
    pub name: String,
    /// Also download every version's data into the store (a full copy, for working
    /// offline); by default data is fetched on checkout.
    pub all_data: bool,
    /// How the remote is reached (the new store keeps them).
    pub options: super::RemoteOptions,
}

/// A new store in `dir` from a remote: metadata only (data comes on checkout). Nothing is
/// left behind when it fails.
pub fn clone(req: &CloneRequest, progress: &dyn Progress) -> Result<(Repo, PullReport)> {
    config::validate_remote_name(&req.name)?;
    let store = req.dir.join(crate::repo::STORE_DIR);
    if store.exists() {
        return Err(Error::AlreadyInitialized(store));
    }
    // Reach the remote before creating anything.
    let backend = req.spec.open(&req.options)?;
    backend.get(&Key::Marker, SMALL)?;
    let created_dir = !req.dir.exists();
    let result = (|| {
        std::fs::create_dir_all(&req.dir).map_err(|e| Error::io("creating", &req.dir, e))?;
        let repo = Repo::init(&req.dir)?;
        repo.update_config(|c| {
            c.remotes.insert(req.name.clone(), req.spec.clone());
            Ok(())
        })?;
        let repo = Repo::open(&store)?.with_remote_options(req.options.clone());
        let mut report = pull(&repo, Some(&req.name), &[], progress)?;
        if req.all_data {
            for v in reach::walk(&repo)?.versions {
                if let Some(d) = ensure_data(&repo, &v.id, &[], progress)? {
                    report.data_objects += d.objects;
                    report.data_bytes += d.bytes;
                }
            }
        }
        Ok((repo, report))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&store);
        if created_dir {
            let _ = std::fs::remove_dir(&req.dir);
        }
    }
    result
}
