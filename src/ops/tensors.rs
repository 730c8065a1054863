//! Lazy tensor reads: a few tensors of a stored safetensors file, without the rest of it.
//!
//! The chunker cuts safetensors files at tensor boundaries (`store::chunker`), so a tensor
//! is a run of whole chunks. Reading tensors reads the header's chunks, then the chunks
//! that hold the wanted tensors — from this store when it has them, else straight from the
//! remote that holds the version's data (each chunk verified against its id), nothing
//! else. A serving process that needs the embedding table of a 10 GB checkpoint on a
//! remote downloads the table, not the checkpoint.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::filestore::Manifest;
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

/// Reads byte ranges of one stored file, chunk by chunk, from the store or the remote.
struct Ranges<'r> {
    repo: &'r Repo,
    manifest: Manifest,
    offsets: Vec<u64>,
    fetcher: Option<crate::remote::ChunkFetcher<'r>>,
    cache: HashMap<usize, Vec<u8>>,
}

impl Ranges<'_> {
    fn read(&mut self, start: u64, len: u64) -> Result<Vec<u8>> {
        let end = start.saturating_add(len).min(self.manifest.size);
        let mut out = Vec::with_capacity(end.saturating_sub(start) as usize);
        let mut pos = start;
        while pos < end {
            let i = self.offsets.partition_point(|&o| o <= pos) - 1;
            if !self.cache.contains_key(&i) {
                let c = &self.manifest.chunks[i];
                let bytes = match &self.fetcher {
                    Some(f) if !self.repo.objects().exists(&c.id) => f.chunk(c)?,
                    _ => crate::filestore::read_chunk(self.repo.objects(), c)?,
                };
                // Only the chunk being read is kept (tensors are read in file order).
                self.cache.clear();
                self.cache.insert(i, bytes);
            }
            let data = &self.cache[&i];
            let from = (pos - self.offsets[i]) as usize;
            let to = ((end - self.offsets[i]) as usize).min(data.len());
            if to <= from {
                return Err(Error::CorruptObject {
                    id: self.manifest.chunks[i].id.to_hex(),
                    why: "a chunk shorter than its manifest says".into(),
                });
            }
            out.extend_from_slice(&data[from..to]);
            pos = self.offsets[i] + to as u64;
        }
        Ok(out)
    }
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
    let manifest = crate::reach::read_manifest(repo, f)?;
    let mut offsets = Vec::with_capacity(manifest.chunks.len() + 1);
    let mut off = 0;
    for ch in &manifest.chunks {
        offsets.push(off);
        off += ch.len;
    }
    offsets.push(off);
    let needs_remote = manifest
        .chunks
        .iter()
        .any(|ch| !repo.objects().exists(&ch.id));
    let fetcher = if needs_remote {
        crate::remote::ChunkFetcher::open(repo, id)?
    } else {
        None
    };
    let mut r = Ranges {
        repo,
        manifest,
        offsets,
        fetcher,
        cache: HashMap::new(),
    };
    let not_st = || Error::InvalidArgument(format!("{} is not a safetensors file", f.path));
    let size = r.manifest.size;
    let n = crate::store::safetensors::header_len(&r.read(0, 8)?, size).ok_or_else(not_st)?;
    let header = crate::store::safetensors::parse(&r.read(8, n)?, size).ok_or_else(not_st)?;
    let mut wanted: Vec<&crate::store::safetensors::Tensor> = Vec::new();
    for name in names {
        match header.tensors.iter().find(|t| &t.name == name) {
            Some(t) => wanted.push(t),
            None => {
                let known: Vec<&str> = header.tensors.iter().map(|t| t.name.as_str()).collect();
                let shown = known
                    .iter()
                    .take(20)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Error::InvalidArgument(format!(
                    "{} has no tensor {name:?} (it has {}: {shown}{})",
                    f.path,
                    known.len(),
                    if known.len() > 20 { ", ..." } else { "" }
                )));
            }
        }
    }
    // In file order: each chunk is read once.
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by_key(|&i| wanted[i].start);
    let mut data: Vec<Option<Vec<u8>>> = vec![None; wanted.len()];
    for i in order {
        let t = wanted[i];
        // Offsets in the header are already absolute (data_start included).
        data[i] = Some(r.read(t.start, t.end - t.start)?);
    }
    Ok(TensorRead {
        path: f.path.clone(),
        bytes_fetched: r.fetcher.as_ref().map_or(0, |x| x.bytes_fetched()),
        tensors: wanted
            .into_iter()
            .zip(data)
            .map(|(t, d)| TensorData {
                name: t.name.clone(),
                dtype: t.dtype.clone(),
                shape: t.shape.clone(),
                data: d.unwrap_or_default(),
            })
            .collect(),
    })
}
