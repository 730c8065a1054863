//! Records of commits whose file data gc pruned.
//!
//! A retention policy may delete the chunks of old versions while their metadata stays.
//! gc writes `pruned/<commit id>` (atomically) *before* deleting any object, so that `log`
//! and `show` can say the files were pruned, `checkout` can refuse clearly, and `fsck`
//! does not report the missing chunks as damage.

use std::path::PathBuf;

use crate::error::Result;
use crate::fsutil;
use crate::id::ObjectId;
use crate::repo::Repo;

fn path(repo: &Repo, id: &ObjectId) -> PathBuf {
    repo.store_dir().join("pruned").join(id.to_hex())
}

/// True when gc pruned this commit's file data.
pub fn is_pruned(repo: &Repo, id: &ObjectId) -> bool {
    path(repo, id).is_file()
}

/// Mark a commit as pruned (durably) before its data is deleted.
pub fn mark_pruned(repo: &Repo, id: &ObjectId, when: &str) -> Result<()> {
    let dir = repo.store_dir().join("pruned");
    fsutil::create_dir_durable(&dir)?;
    fsutil::write_atomic(
        &path(repo, id),
        format!("pruned_at: {when}\n").as_bytes(),
        &repo.tmp_dir(),
    )
}

/// Every pruned version, read with one directory listing (for listings of many versions,
/// where a `stat` per version would cost more than the query itself).
pub fn pruned_set(repo: &Repo) -> std::collections::HashSet<ObjectId> {
    let mut out = std::collections::HashSet::new();
    if let Ok(rd) = std::fs::read_dir(repo.store_dir().join("pruned")) {
        for e in rd.flatten() {
            if let Some(id) = e.file_name().to_str().and_then(ObjectId::from_hex) {
                out.insert(id);
            }
        }
    }
    out
}

impl Repo {
    /// True when gc or `prune` removed some of this version's data (see `gc_marks`).
    pub fn is_pruned(&self, id: &ObjectId) -> bool {
        is_pruned(self, id)
    }

    /// The remote holding this version's data when it was fetched without it (`clone`,
    /// `fetch`); `checkout` brings the data. None when the data is local.
    pub fn data_remote(&self, id: &ObjectId) -> Option<String> {
        remote_of(self, id)
    }
}

fn remote_path(repo: &Repo, id: &ObjectId) -> PathBuf {
    repo.store_dir().join("remote-data").join(id.to_hex())
}

/// True when this version's data was never fetched: its chunks are on a remote
/// (`fetch` / `clone` bring metadata only; `checkout` fetches the data on demand).
pub fn is_remote_only(repo: &Repo, id: &ObjectId) -> bool {
    remote_path(repo, id).is_file()
}

/// The remote holding a fetched version's data (None when its data is local).
pub fn remote_of(repo: &Repo, id: &ObjectId) -> Option<String> {
    let text = std::fs::read_to_string(remote_path(repo, id)).ok()?;
    Some(
        text.trim()
            .strip_prefix("remote: ")
            .unwrap_or("a remote")
            .to_string(),
    )
}

/// Mark a fetched version whose chunks stay on `remote`.
pub fn mark_remote_only(repo: &Repo, id: &ObjectId, remote: &str) -> Result<()> {
    let dir = repo.store_dir().join("remote-data");
    fsutil::create_dir_durable(&dir)?;
    fsutil::write_atomic(
        &remote_path(repo, id),
        format!("remote: {remote}\n").as_bytes(),
        &repo.tmp_dir(),
    )
}

/// A version's data is complete again (fetched from a remote): drop its marks.
pub fn clear_data_marks(repo: &Repo, id: &ObjectId) -> Result<()> {
    for p in [path(repo, id), remote_path(repo, id)] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(crate::Error::io("removing", p, e)),
        }
    }
    Ok(())
}
