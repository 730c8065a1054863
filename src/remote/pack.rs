//! Packs: small objects travel together.
//!
//! Object storage charges per request, and servers answer a few thousand requests a second
//! at best: a directory of 2,000 small files is 4,000 objects (a chunk and a manifest each).
//! `push` therefore groups objects smaller than [`PACK_MAX_OBJECT`] into packs:
//! `packs/<id>.pack` is their encodings (the bytes of the local object files) one after the
//! other, `<id>` the blake3 of the pack's bytes, and `packs/<id>.idx` lists each object's id,
//! offset and length. The index is written after the pack, so an object is on the remote
//! once its index is; an interrupted push leaves at most an unindexed pack, which nothing
//! reads. Readers fetch a packed object with a ranged GET (neighbours coalesced), and verify
//! it against its id like any other object. Indexes are immutable and cached locally.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::backend::Backend;
use super::key::{Key, Prefix};
use super::RemoteError;
use crate::error::Result;
use crate::id::ObjectId;

/// Objects whose encoding is smaller than this are packed.
pub const PACK_MAX_OBJECT: u64 = 256 * 1024;
/// Largest pack `push` writes.
pub const PACK_MAX: u64 = 16 << 20;
/// Reads of neighbouring packed objects closer than this are one ranged GET.
const COALESCE_GAP: u64 = 256 * 1024;
const INDEX_FORMAT: u32 = 1;
/// Largest pack index accepted (a full pack of tiny objects needs about 20 MiB).
pub const MAX_INDEX: u64 = 64 << 20;
/// Largest pack accepted from a remote.
pub const MAX_PACK_READ: u64 = 1 << 30;

/// One object in a pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackEntry {
    pub id: ObjectId,
    pub offset: u64,
    pub len: u64,
}

/// `packs/<id>.idx`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackIndex {
    pub format: u32,
    pub pack_len: u64,
    pub objects: Vec<PackEntry>,
}

/// Concatenate encoded objects into a pack: its id, bytes and index.
pub fn build(objects: &[(ObjectId, Vec<u8>)]) -> (ObjectId, Vec<u8>, PackIndex) {
    let mut bytes = Vec::with_capacity(objects.iter().map(|o| o.1.len()).sum());
    let mut entries = Vec::with_capacity(objects.len());
    for (id, enc) in objects {
        entries.push(PackEntry {
            id: *id,
            offset: bytes.len() as u64,
            len: enc.len() as u64,
        });
        bytes.extend_from_slice(enc);
    }
    let id = ObjectId::hash(&bytes);
    let index = PackIndex {
        format: INDEX_FORMAT,
        pack_len: bytes.len() as u64,
        objects: entries,
    };
    (id, bytes, index)
}

/// Split objects (id, encoded size) into groups of about `target` bytes (at most PACK_MAX).
pub fn group(objects: &[(ObjectId, u64)], target: u64) -> Vec<Vec<ObjectId>> {
    let target = target.clamp(1 << 20, PACK_MAX);
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut size = 0;
    for (id, len) in objects {
        if size + len > target && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            size = 0;
        }
        cur.push(*id);
        size += len;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Where the remote's packed objects are.
#[derive(Default)]
pub struct PackMap {
    pub entries: HashMap<ObjectId, (ObjectId, PackEntry)>,
    /// Every indexed pack and its length.
    pub packs: Vec<(ObjectId, u64)>,
}

/// Parse and check an index against its pack's listed length.
pub fn parse_index(pack: &ObjectId, bytes: &[u8], listed_len: Option<u64>) -> Result<PackIndex> {
    let bad = |why: String| -> crate::Error {
        RemoteError::Corrupt(format!("pack index {}: {why}", pack.to_hex())).into()
    };
    let idx: PackIndex =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not a pack index: {e}")))?;
    if idx.format != INDEX_FORMAT {
        return Err(bad(format!("format {} (upgrade mreg)", idx.format)));
    }
    if let Some(l) = listed_len {
        if l != idx.pack_len {
            return Err(bad(format!(
                "says the pack has {} bytes, the remote lists {l}",
                idx.pack_len
            )));
        }
    }
    for e in &idx.objects {
        let end = e.offset.checked_add(e.len);
        if end.is_none_or(|end| end > idx.pack_len)
            || e.len > crate::object::MAX_OBJECT_LEN + 64 * 1024
        {
            return Err(bad(format!("object {} lies outside the pack", e.id)));
        }
    }
    Ok(idx)
}

/// Read every pack index on the remote (from `cache` when seen before).
pub fn load(remote: &Backend, cache: &PathBuf) -> Result<PackMap> {
    let listed = remote.list(&Prefix::Packs)?;
    // An index whose name is not a pack id cannot be trusted to say where objects are;
    // other stray names are fsck's to report.
    if let Some((name, _)) = listed.unknown.iter().find(|(n, _)| n.ends_with(".idx")) {
        return Err(RemoteError::Corrupt(format!("unexpected object {name}")).into());
    }
    let mut map = PackMap::default();
    for (key, _) in &listed.keys {
        let Key::PackIndex(pack) = key else {
            continue;
        };
        let hex = pack.to_hex();
        let listed_len = listed.size_of(&Key::Pack(*pack));
        if listed_len.is_none() {
            return Err(
                RemoteError::Corrupt(format!("pack index {key} has no pack beside it")).into(),
            );
        }
        let cached = cache.join(format!("{hex}.idx"));
        let bytes = match std::fs::read(&cached) {
            Ok(b) => b,
            Err(_) => {
                let b = remote.get(key, MAX_INDEX)?.ok_or_else(|| {
                    RemoteError::Corrupt(format!("{key} was listed but cannot be read"))
                })?;
                // Validate before caching, then cache (best effort: it is only a cache).
                parse_index(pack, &b, listed_len)?;
                if std::fs::create_dir_all(cache).is_ok() {
                    let tmp = cache.join(format!(".{hex}.tmp"));
                    if std::fs::write(&tmp, &b).is_ok() {
                        let _ = std::fs::rename(&tmp, &cached);
                    }
                }
                b
            }
        };
        let idx = parse_index(pack, &bytes, listed_len)?;
        for e in idx.objects {
            map.entries.insert(e.id, (*pack, e));
        }
        map.packs.push((*pack, idx.pack_len));
    }
    Ok(map)
}

/// A ranged read covering several packed objects.
pub struct RangeRead {
    pub pack: ObjectId,
    pub start: u64,
    pub end: u64,
    pub objects: Vec<PackEntry>,
}

/// Group wanted packed objects into few ranged reads.
pub fn plan_reads(map: &PackMap, wanted: &[ObjectId]) -> Vec<RangeRead> {
    let mut by_pack: HashMap<ObjectId, Vec<PackEntry>> = HashMap::new();
    for id in wanted {
        if let Some((pack, e)) = map.entries.get(id) {
            by_pack.entry(*pack).or_default().push(*e);
        }
    }
    let mut out = Vec::new();
    for (pack, mut es) in by_pack {
        es.sort_by_key(|e| e.offset);
        let mut cur: Option<RangeRead> = None;
        for e in es {
            match &mut cur {
                Some(r)
                    if e.offset <= r.end + COALESCE_GAP
                        && e.offset + e.len - r.start <= PACK_MAX =>
                {
                    r.end = r.end.max(e.offset + e.len);
                    r.objects.push(e);
                }
                _ => {
                    if let Some(r) = cur.take() {
                        out.push(r);
                    }
                    cur = Some(RangeRead {
                        pack,
                        start: e.offset,
                        end: e.offset + e.len,
                        objects: vec![e],
                    });
                }
            }
        }
        out.extend(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_index_their_objects_and_reads_coalesce() {
        let objs: Vec<(ObjectId, Vec<u8>)> = (0..5u8)
            .map(|i| (ObjectId::hash(&[i]), vec![i; 100 + i as usize]))
            .collect();
        let (id, bytes, idx) = build(&objs);
        assert_eq!(id, ObjectId::hash(&bytes));
        let parsed = parse_index(
            &id,
            &serde_json::to_vec(&idx).unwrap(),
            Some(bytes.len() as u64),
        )
        .unwrap();
        for (e, (oid, enc)) in parsed.objects.iter().zip(&objs) {
            assert_eq!(e.id, *oid);
            assert_eq!(
                &bytes[e.offset as usize..(e.offset + e.len) as usize],
                &enc[..]
            );
        }
        assert!(parse_index(&id, &serde_json::to_vec(&idx).unwrap(), Some(3)).is_err());
        let mut evil = idx.clone();
        evil.objects[0].offset = u64::MAX - 1;
        assert!(parse_index(&id, &serde_json::to_vec(&evil).unwrap(), None).is_err());
        let mut map = PackMap::default();
        for e in &idx.objects {
            map.entries.insert(e.id, (id, *e));
        }
        let reads = plan_reads(&map, &[objs[0].0, objs[3].0]);
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].objects.len(), 2);
        assert_eq!(
            group(&[(objs[0].0, 600 << 10), (objs[1].0, 600 << 10)], 1 << 20).len(),
            2
        );
    }
}
