//! Notes: append-only records attached to a commit after the fact.
//!
//! A note never changes its commit's id. Each note is a `note` object (JSON) holding its
//! commit's id, and `notes/<commit id>` lists the note ids attached to it, one per line,
//! appended under the commit's lock with the same torn-line rules as the history log.
//! Evaluations, git commits that pinned a version, and reproduction verdicts are notes.
//! gc keeps every note of a kept commit.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::id::ObjectId;
use crate::lock;
use crate::object::Kind;
use crate::repo::Repo;

fn list_path(repo: &Repo, commit: &ObjectId) -> PathBuf {
    repo.store_dir().join("notes").join(commit.to_hex())
}

/// The ids of the notes attached to a commit, oldest first (a torn last line is ignored).
pub fn note_ids(repo: &Repo, commit: &ObjectId) -> Result<Vec<ObjectId>> {
    let p = list_path(repo, commit);
    let text = match fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("reading notes of", p, e)),
    };
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    Ok(complete.lines().filter_map(ObjectId::from_hex).collect())
}

/// Attach a note (any JSON object) to a commit; returns the note's id.
pub fn add(repo: &Repo, commit: &ObjectId, note: &serde_json::Value) -> Result<ObjectId> {
    let _store = repo.lock_store_shared()?;
    repo.read_commit(commit)?;
    let bytes = serde_json::to_vec(note).expect("notes serialize");
    let put = repo.objects().put(Kind::Note, &bytes)?;
    repo.objects().flush()?;
    let dir = repo.store_dir().join("notes");
    fsutil::create_dir_durable(&dir)?;
    let _g = lock::exclusive(&dir.join(format!("{}.lock", commit.to_hex())))?;
    let p = list_path(repo, commit);
    let mut f = fsutil::open_append(&p)?;
    // Drop a torn tail left by a crash before appending.
    let len = f.metadata().ctx("reading metadata of", &p)?.len();
    let text = fs::read_to_string(&p).ctx("reading", &p)?;
    let keep = text.rfind('\n').map_or(0, |i| i + 1) as u64;
    if keep < len {
        f.set_len(keep).ctx("truncating torn note line in", &p)?;
    }
    f.write_all(format!("{}\n", put.id).as_bytes())
        .ctx("appending note to", &p)?;
    f.sync_data().ctx("syncing", &p)?;
    Ok(put.id)
}

/// The notes of a commit, decoded, oldest first.
pub fn notes(repo: &Repo, commit: &ObjectId) -> Result<Vec<(ObjectId, serde_json::Value)>> {
    let mut out = Vec::new();
    for id in note_ids(repo, commit)? {
        let bytes = repo.objects().get_kind(&id, Kind::Note)?;
        let v = serde_json::from_slice(&bytes).map_err(|e| Error::CorruptObject {
            id: id.to_hex(),
            why: format!("bad note: {e}"),
        })?;
        out.push((id, v));
    }
    Ok(out)
}
