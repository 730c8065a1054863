//! Lazy tensor reads: a few tensors of a stored safetensors file, without the rest of it.
//!
//! The chunker cuts safetensors files at tensor boundaries (`store::chunker`), so a tensor
//! is a run of whole chunks. Reading tensors reads the header's chunks, then the chunks
//! that hold the wanted tensors — from this store when it has them, else straight from the
//! remote that holds the version's data (each chunk verified against its id), nothing
//! else. A serving process that needs the embedding table of a 10 GB checkpoint on a
//! remote downloads the table, not the checkpoint.

use serde::Serialize;

use crate::diff::ManifestReader;
use crate::error::{Error, Result};
use crate::id::CommitId;
use crate::repo::Repo;

/// One tensor read: its description and its bytes (little-endian, as stored).
#[derive(Clone, Debug, Serialize)]
pub struct TensorData {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// What [`read_tensors`] read, and what it cost.
#[derive(Clone, Debug, Serialize)]
pub struct TensorRead {
    /// The file read (repository path).
    pub path: String,
    pub tensors: Vec<TensorData>,
    /// Bytes downloaded from a remote (as stored there: compressed).
    pub bytes_fetched: u64,
}

/// Read the tensors `names` of a version's safetensors file (`file`: its repository path;
/// default the version's only `.safetensors`). Unknown names are an error that lists the
/// file's tensors.
pub fn read_tensors(
    repo: &Repo,
    id: &CommitId,
    names: &[String],
    file: Option<&str>,
) -> Result<TensorRead> {
    let c = repo.read_commit(id)?;
    let candidates: Vec<&crate::commit::FileEntry> = match file {
        Some(p) => c.files.iter().filter(|f| f.path == p).collect(),
        None => c
            .files
            .iter()
            .filter(|f| f.path.ends_with(".safetensors"))
            .collect(),
    };
    let f = match candidates.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::InvalidArgument(format!(
                "{} has no {}",
                id.short(),
                file.map_or("safetensors file".to_string(), |p| format!("file {p}"))
            )))
        }
        many => {
            return Err(Error::InvalidArgument(format!(
                "{} has {} safetensors files ({}): name one",
                id.short(),
                many.len(),
                many.iter()
                    .map(|f| f.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    let r = ManifestReader::of(repo.objects(), crate::reach::read_manifest(repo, f)?);
    let r = if r.missing_chunks() {
        r.with_remote(crate::remote::ChunkFetcher::open(repo, id)?)
    } else {
        r
    };
    let header = crate::diff::tensors(&r)
        .ok_or_else(|| Error::InvalidArgument(format!("{} is not a safetensors file", f.path)))?;
    let wanted = names
        .iter()
        .map(|name| {
            header.get(name).ok_or_else(|| {
                let shown = header
                    .keys()
                    .take(20)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                Error::InvalidArgument(format!(
                    "{} has no tensor {name:?} (it has {}: {shown}{})",
                    f.path,
                    header.len(),
                    if header.len() > 20 { ", ..." } else { "" }
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // In file order: the reader keeps the last chunk read, so each chunk is read once.
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by_key(|&i| wanted[i].start);
    let mut data: Vec<Vec<u8>> = vec![Vec::new(); wanted.len()];
    for i in order {
        let t = wanted[i];
        data[i] = r.read(t.start, t.end - t.start)?;
    }
    Ok(TensorRead {
        path: f.path.clone(),
        bytes_fetched: r.bytes_fetched(),
        tensors: wanted
            .into_iter()
            .zip(data)
            .map(|(t, data)| TensorData {
                name: t.name.clone(),
                dtype: t.dtype.clone(),
                shape: t.shape.clone(),
                data,
            })
            .collect(),
    })
}
