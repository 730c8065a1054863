//! Where the members of a zip archive lie, for the chunker: a PyTorch checkpoint (`.pt`,
//! `.pth`, what `torch.save` writes) is a zip whose members are stored uncompressed, one
//! per tensor storage, after a small pickle. Cutting at each member's data makes every
//! chunk hold one storage from its first element (one element phase per chunk, as byte
//! planes want), keeps a changed tensor's chunks from touching its neighbours, and lines
//! each chunk up with the same storage in the previous version (dedup and deltas).
//!
//! Only what is needed is read: the end-of-central-directory record, the central
//! directory, and each member's local header (its name and extra fields end where the
//! data starts). File bytes are untrusted: anything inconsistent (signatures, offsets or
//! lengths past the end, overlapping members, ZIP64 markers) means "not a zip we cut",
//! never a panic; callers fall back to content-defined chunking.

const EOCD_SIG: u32 = 0x0605_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
/// Members smaller than this are not worth a cut (pickles, version records).
const MIN_MEMBER: u64 = 4096;

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

/// The byte ranges `[start, end)` of the stored (uncompressed) members of at least
/// `MIN_MEMBER` bytes, sorted, or None when `data` is not such a zip.
pub fn stored_members(data: &[u8]) -> Option<Vec<(usize, usize)>> {
    if data.len() < 22 || u32_at(data, 0)? != LOCAL_SIG {
        return None;
    }
    // The end record is within the last 22 + 65,535 bytes (its comment is at most that).
    let tail_from = data.len().saturating_sub(22 + 65_535);
    let eocd = (tail_from..=data.len() - 22)
        .rev()
        .find(|&i| u32_at(data, i) == Some(EOCD_SIG))?;
    let entries = u16_at(data, eocd + 10)? as usize;
    let cd_size = u32_at(data, eocd + 12)? as usize;
    let cd_off = u32_at(data, eocd + 16)? as usize;
    if entries == 0xffff || cd_off == 0xffff_ffff || cd_off.checked_add(cd_size)? > eocd {
        return None; // ZIP64 or inconsistent
    }
    let mut members = Vec::new();
    let mut at = cd_off;
    for _ in 0..entries {
        if u32_at(data, at)? != CENTRAL_SIG {
            return None;
        }
        let method = u16_at(data, at + 10)?;
        let csize = u32_at(data, at + 20)?;
        let usize_ = u32_at(data, at + 24)?;
        let (n, e, c) = (
            u16_at(data, at + 28)? as usize,
            u16_at(data, at + 30)? as usize,
            u16_at(data, at + 32)? as usize,
        );
        let local = u32_at(data, at + 42)? as usize;
        if csize == 0xffff_ffff || usize_ == 0xffff_ffff || local == 0xffff_ffff {
            return None;
        }
        at = at.checked_add(46 + n + e + c)?;
        if u32_at(data, local)? != LOCAL_SIG {
            return None;
        }
        let start = local
            .checked_add(30)?
            .checked_add(u16_at(data, local + 26)? as usize)?
            .checked_add(u16_at(data, local + 28)? as usize)?;
        let end = start.checked_add(csize as usize)?;
        if end > cd_off {
            return None;
        }
        if method == 0 && csize == usize_ && csize as u64 >= MIN_MEMBER {
            members.push((start, end));
        }
    }
    members.sort_unstable();
    if members.windows(2).any(|w| w[0].1 > w[1].0) {
        return None;
    }
    Some(members)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal stored zip (as torch.save and Python's zipfile with ZIP_STORED write).
    pub(crate) fn zip(members: &[(&str, Vec<u8>)]) -> (Vec<u8>, Vec<(usize, usize)>) {
        let mut out = Vec::new();
        let mut central = Vec::new();
        let mut ranges = Vec::new();
        for (name, data) in members {
            let local = out.len() as u32;
            let crc = 0u32;
            let mut h = Vec::new();
            h.extend_from_slice(&LOCAL_SIG.to_le_bytes());
            h.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&3u16.to_le_bytes()); // an extra field, as torch pads
            h.extend_from_slice(name.as_bytes());
            h.extend_from_slice(&[0, 0, 0]);
            out.extend_from_slice(&h);
            ranges.push((out.len(), out.len() + data.len()));
            out.extend_from_slice(data);
            let mut c = Vec::new();
            c.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            c.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            c.extend_from_slice(&crc.to_le_bytes());
            c.extend_from_slice(&(data.len() as u32).to_le_bytes());
            c.extend_from_slice(&(data.len() as u32).to_le_bytes());
            c.extend_from_slice(&(name.len() as u16).to_le_bytes());
            c.extend_from_slice(&[0; 12]);
            c.extend_from_slice(&local.to_le_bytes());
            c.extend_from_slice(name.as_bytes());
            central.extend_from_slice(&c);
        }
        let cd_off = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&EOCD_SIG.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_off.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        (out, ranges)
    }

    #[test]
    fn finds_the_stored_members_data() {
        let (z, ranges) = zip(&[
            ("archive/data.pkl", vec![1; 100]),
            ("archive/data/0", vec![2; 10_000]),
            ("archive/data/1", vec![3; 50_001]),
        ]);
        assert_eq!(stored_members(&z).unwrap(), ranges[1..].to_vec());
        assert!(z[ranges[2].0..ranges[2].1].iter().all(|b| *b == 3));
    }

    #[test]
    fn anything_inconsistent_is_not_a_zip() {
        let (z, _) = zip(&[("a", vec![2; 10_000])]);
        assert!(
            stored_members(&z[..z.len() - 1]).is_none(),
            "truncated end record"
        );
        assert!(stored_members(&z[1..]).is_none());
        assert!(stored_members(b"PK\x03\x04").is_none());
        assert!(stored_members(&[]).is_none());
        for i in 0..z.len() {
            let mut bad = z.clone();
            bad[i] ^= 0xff;
            // Never a panic; a damaged archive either parses to ranges inside it or not at all.
            if let Some(m) = stored_members(&bad) {
                assert!(m.iter().all(|(s, e)| s <= e && *e <= bad.len()));
            }
        }
    }
}
