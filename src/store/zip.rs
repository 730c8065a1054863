//! Where the members of a zip archive lie, for the chunker: a PyTorch checkpoint (`.pt`,
//! `.pth`, what `torch.save` writes) is a zip whose members are stored uncompressed, one
//! per tensor storage, after a small pickle. Cutting at each member's data makes every
//! chunk hold one storage from its first element (one element phase per chunk, as byte
//! planes want), keeps a changed tensor's chunks from touching its neighbours, and lines
//! each chunk up with the same storage in the previous version (dedup and deltas).
//!
//! Only what is needed is read: the end-of-central-directory record, the central
//! directory, and each member's local header (its name and extra fields end where the
//! data starts). ZIP64 archives are read too: `torch.save` writes them for checkpoints over
//! 4 GiB (and with more than 65,535 members) — exactly the files where cutting at storages
//! matters most. File bytes are untrusted: anything inconsistent (signatures, offsets or
//! lengths past the end, overlapping members, a ZIP64 field that is missing) means "not a
//! zip we cut", never a panic; callers fall back to content-defined chunking.

const EOCD_SIG: u32 = 0x0605_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
/// The extra field that holds a member's 64-bit sizes and offset.
const ZIP64_EXTRA: u16 = 0x0001;
/// Members smaller than this are not worth a cut (pickles, version records).
const MIN_MEMBER: u64 = 4096;

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        d.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        d.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        d.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// The central directory's entry count, size and offset: from the end record, or from the
/// ZIP64 end record its locator points at when the end record says "see ZIP64" (0xffff…).
fn central_directory(data: &[u8], eocd: usize) -> Option<(u64, u64, u64)> {
    let entries = u16_at(data, eocd + 10)?;
    let cd_size = u32_at(data, eocd + 12)?;
    let cd_off = u32_at(data, eocd + 16)?;
    if entries != 0xffff && cd_size != 0xffff_ffff && cd_off != 0xffff_ffff {
        return Some((entries as u64, cd_size as u64, cd_off as u64));
    }
    let locator = eocd.checked_sub(20)?;
    if u32_at(data, locator)? != ZIP64_LOCATOR_SIG {
        return None;
    }
    let record = usize::try_from(u64_at(data, locator + 8)?).ok()?;
    if u32_at(data, record)? != ZIP64_EOCD_SIG || record.checked_add(56)? > locator {
        return None;
    }
    Some((
        u64_at(data, record + 32)?,
        u64_at(data, record + 40)?,
        u64_at(data, record + 48)?,
    ))
}

/// A central entry's sizes and local header offset, with the ZIP64 extra field's values
/// for those marked 0xffffffff (in the order the format gives them).
fn member_fields(data: &[u8], at: usize, extra: std::ops::Range<usize>) -> Option<(u64, u64, u64)> {
    let csize = u32_at(data, at + 20)?;
    let usize_ = u32_at(data, at + 24)?;
    let local = u32_at(data, at + 42)?;
    let mut wide = [usize_ == u32::MAX, csize == u32::MAX, local == u32::MAX];
    let mut vals = [usize_ as u64, csize as u64, local as u64];
    if wide.iter().any(|w| *w) {
        // Find the ZIP64 extra field among the entry's extra fields.
        let mut e = extra.start;
        let body = loop {
            if e.checked_add(4)? > extra.end {
                return None;
            }
            let (id, len) = (u16_at(data, e)?, u16_at(data, e + 2)? as usize);
            let body = e + 4..e.checked_add(4 + len)?;
            if body.end > extra.end {
                return None;
            }
            if id == ZIP64_EXTRA {
                break body;
            }
            e = body.end;
        };
        let mut p = body.start;
        for (w, v) in wide.iter_mut().zip(vals.iter_mut()) {
            if *w {
                if p + 8 > body.end {
                    return None;
                }
                *v = u64_at(data, p)?;
                p += 8;
                *w = false;
            }
        }
    }
    Some((vals[1], vals[0], vals[2]))
}

/// A member of a zip archive: its name, and where its (possibly compressed) data lies.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    /// 0: stored (uncompressed).
    pub method: u16,
    pub start: usize,
    pub end: usize,
    pub uncompressed: u64,
}

impl Entry {
    /// The member's bytes when it is stored uncompressed (None when compressed).
    pub fn stored_bytes<'a>(&self, data: &'a [u8]) -> Option<&'a [u8]> {
        (self.method == 0 && (self.end - self.start) as u64 == self.uncompressed)
            .then(|| data.get(self.start..self.end))
            .flatten()
    }
}

/// Every member of a zip archive, in central-directory order; None when `data` is not a
/// zip whose directory is consistent.
pub fn entries(data: &[u8]) -> Option<Vec<Entry>> {
    if data.len() < 22 || u32_at(data, 0)? != LOCAL_SIG {
        return None;
    }
    // The end record is within the last 22 + 65,535 bytes (its comment is at most that).
    let tail_from = data.len().saturating_sub(22 + 65_535);
    let eocd = (tail_from..=data.len() - 22)
        .rev()
        .find(|&i| u32_at(data, i) == Some(EOCD_SIG))?;
    let (entries, cd_size, cd_off) = central_directory(data, eocd)?;
    let cd_off = usize::try_from(cd_off).ok()?;
    let cd_end = cd_off.checked_add(usize::try_from(cd_size).ok()?)?;
    if cd_end > eocd {
        return None;
    }
    let mut members = Vec::new();
    let mut at = cd_off;
    for _ in 0..entries {
        if at >= cd_end || u32_at(data, at)? != CENTRAL_SIG {
            return None;
        }
        let method = u16_at(data, at + 10)?;
        let (n, e, c) = (
            u16_at(data, at + 28)? as usize,
            u16_at(data, at + 30)? as usize,
            u16_at(data, at + 32)? as usize,
        );
        let name =
            String::from_utf8_lossy(data.get(at + 46..at.checked_add(46 + n)?)?).into_owned();
        let extra = at.checked_add(46 + n)?..at.checked_add(46 + n + e)?;
        let (csize, usize_, local) = member_fields(data, at, extra)?;
        at = at.checked_add(46 + n + e + c)?;
        let local = usize::try_from(local).ok()?;
        if u32_at(data, local)? != LOCAL_SIG {
            return None;
        }
        let start = local
            .checked_add(30)?
            .checked_add(u16_at(data, local + 26)? as usize)?
            .checked_add(u16_at(data, local + 28)? as usize)?;
        let end = start.checked_add(usize::try_from(csize).ok()?)?;
        if end > cd_off {
            return None;
        }
        members.push(Entry {
            name,
            method,
            start,
            end,
            uncompressed: usize_,
        });
    }
    Some(members)
}

/// The byte ranges `[start, end)` of the stored (uncompressed) members of at least
/// `MIN_MEMBER` bytes, sorted, or None when `data` is not such a zip.
pub fn stored_members(data: &[u8]) -> Option<Vec<(usize, usize)>> {
    let mut members: Vec<(usize, usize)> = entries(data)?
        .into_iter()
        .filter(|e| {
            e.method == 0
                && (e.end - e.start) as u64 == e.uncompressed
                && e.uncompressed >= MIN_MEMBER
        })
        .map(|e| (e.start, e.end))
        .collect();
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

    /// The same archive in ZIP64 form, as torch writes large checkpoints: every member's
    /// sizes and offset in its ZIP64 extra field (0xffffffff in the 32-bit fields), and a
    /// ZIP64 end record with its locator (0xffff… in the end record).
    pub(crate) fn zip64(members: &[(&str, Vec<u8>)]) -> (Vec<u8>, Vec<(usize, usize)>) {
        let mut out = Vec::new();
        let mut central = Vec::new();
        let mut ranges = Vec::new();
        for (name, data) in members {
            let local = out.len() as u64;
            let len = data.len() as u64;
            let mut extra = Vec::new();
            extra.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
            extra.extend_from_slice(&16u16.to_le_bytes());
            extra.extend_from_slice(&len.to_le_bytes());
            extra.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&LOCAL_SIG.to_le_bytes());
            out.extend_from_slice(&[45, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&u32::MAX.to_le_bytes());
            out.extend_from_slice(&u32::MAX.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&extra);
            ranges.push((out.len(), out.len() + data.len()));
            out.extend_from_slice(data);
            // Central: an unrelated extra field first, then ZIP64's (usize, csize, offset).
            let mut cextra = vec![0x55, 0x54, 1, 0, 7];
            cextra.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
            cextra.extend_from_slice(&24u16.to_le_bytes());
            cextra.extend_from_slice(&len.to_le_bytes());
            cextra.extend_from_slice(&len.to_le_bytes());
            cextra.extend_from_slice(&local.to_le_bytes());
            central.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            central.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&u32::MAX.to_le_bytes());
            central.extend_from_slice(&u32::MAX.to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&(cextra.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 10]); // comment, disk, attributes
            central.extend_from_slice(&u32::MAX.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
            central.extend_from_slice(&cextra);
        }
        let cd_off = out.len() as u64;
        out.extend_from_slice(&central);
        let record = out.len() as u64;
        out.extend_from_slice(&ZIP64_EOCD_SIG.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&(members.len() as u64).to_le_bytes());
        out.extend_from_slice(&(members.len() as u64).to_le_bytes());
        out.extend_from_slice(&(central.len() as u64).to_le_bytes());
        out.extend_from_slice(&cd_off.to_le_bytes());
        out.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&record.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&EOCD_SIG.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        out.extend_from_slice(&u32::MAX.to_le_bytes());
        out.extend_from_slice(&u32::MAX.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        (out, ranges)
    }

    /// Regression (issue 25): ZIP64 archives — torch's large checkpoints — were not cut at
    /// their storages.
    #[test]
    fn zip64_archives_are_cut_at_their_members() {
        let members = [
            ("archive/data.pkl", vec![1; 100]),
            ("archive/data/0", vec![2; 10_000]),
            ("archive/data/1", vec![3; 50_001]),
        ];
        let (z, ranges) = zip64(&members);
        assert_eq!(stored_members(&z).unwrap(), ranges[1..].to_vec());
        for i in 0..z.len() {
            let mut bad = z.clone();
            bad[i] ^= 0xff;
            if let Some(m) = stored_members(&bad) {
                assert!(m.iter().all(|(s, e)| s <= e && *e <= bad.len()));
            }
        }
        // The locator pointing past the end, or a missing ZIP64 field: not a zip we cut.
        let mut bad = z.clone();
        let loc = z.len() - 22 - 20;
        bad[loc + 8..loc + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(stored_members(&bad).is_none());
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
