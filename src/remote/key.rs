//! The names of things on a remote, typed.
//!
//! Every object mreg writes to a remote has a [`Key`] built from typed parts (an object id,
//! a validated model name, a line number), and nothing else is ever written. A listing is
//! parsed back into keys: a name under mreg's prefixes that is not one (an invalid id, a
//! stray file, a half-written upload of another tool) comes back as `unknown`, for the
//! caller to report — it is never silently trusted, and never silently deleted.
//!
//! Layout (relative to the remote's root):
//! - `mreg-remote.json`: the marker (remote format);
//! - `objects/ab/cdef…`: a loose object, by its id;
//! - `packs/ID.pack` and `packs/ID.idx`: a pack, named by the hash of its bytes, and its
//!   index;
//! - `models/MODEL/log/000000000001`: line 1 of a model's history;
//! - `probe/ID`: the object that checks a server honours create-only writes (deleted
//!   right after);
//! - `locks/ID`: a lock a push (shared) or a remote gc (exclusive) holds while it runs
//!   (`remote::lock`).

use std::fmt;

use crate::id::ObjectId;
use crate::names::ModelName;

/// One object on a remote.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Marker,
    Object(ObjectId),
    Pack(ObjectId),
    PackIndex(ObjectId),
    /// Line `seq` (1-based) of a model's history.
    Line(ModelName, u64),
    Probe(ObjectId),
    Lock(ObjectId),
}

/// Digits of a line number in its key (sorting by name is sorting by number).
const LINE_DIGITS: usize = 12;

impl Key {
    /// The key's name relative to the remote's root.
    pub fn path(&self) -> String {
        match self {
            Key::Marker => "mreg-remote.json".into(),
            Key::Object(id) => {
                let h = id.to_hex();
                format!("objects/{}/{}", &h[..2], &h[2..])
            }
            Key::Pack(id) => format!("packs/{}.pack", id.to_hex()),
            Key::PackIndex(id) => format!("packs/{}.idx", id.to_hex()),
            Key::Line(m, seq) => format!("models/{m}/log/{seq:0LINE_DIGITS$}"),
            Key::Probe(id) => format!("probe/{}", id.to_hex()),
            Key::Lock(id) => format!("locks/{}", id.to_hex()),
        }
    }

    /// The key a name stands for, if it is exactly one mreg writes (the inverse of
    /// [`Key::path`]: `parse(k.path()) == Some(k)`, and nothing else parses).
    pub fn parse(name: &str) -> Option<Key> {
        if name == "mreg-remote.json" {
            return Some(Key::Marker);
        }
        let (top, rest) = name.split_once('/')?;
        let hex_id = |h: &str| {
            (h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
                .then(|| ObjectId::from_hex(h))
                .flatten()
        };
        match top {
            "objects" => {
                let (a, b) = rest.split_once('/')?;
                if a.len() != 2 || b.contains('/') {
                    return None;
                }
                hex_id(&format!("{a}{b}")).map(Key::Object)
            }
            "packs" => match (rest.strip_suffix(".pack"), rest.strip_suffix(".idx")) {
                (Some(h), _) => hex_id(h).map(Key::Pack),
                (_, Some(h)) => hex_id(h).map(Key::PackIndex),
                _ => None,
            },
            "models" => {
                let (model, line) = rest.split_once("/log/")?;
                let model = ModelName::new(model).ok()?;
                let seq: u64 = (line.len() == LINE_DIGITS
                    && line.bytes().all(|b| b.is_ascii_digit()))
                .then(|| line.parse().ok())
                .flatten()?;
                (seq > 0).then_some(Key::Line(model, seq))
            }
            "probe" => hex_id(rest).map(Key::Probe),
            "locks" => hex_id(rest).map(Key::Lock),
            _ => None,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// A part of the remote that can be listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prefix {
    Objects,
    Packs,
    /// Every model's history.
    Models,
    /// One model's history.
    Log(ModelName),
    Locks,
    Probes,
}

impl Prefix {
    /// The prefix's name, ending in `/`.
    pub fn path(&self) -> String {
        match self {
            Prefix::Objects => "objects/".into(),
            Prefix::Packs => "packs/".into(),
            Prefix::Models => "models/".into(),
            Prefix::Log(m) => format!("models/{m}/log/"),
            Prefix::Locks => "locks/".into(),
            Prefix::Probes => "probe/".into(),
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// What a listing found under a prefix: mreg's keys (with their sizes), and every other
/// name, which callers report instead of trusting.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub keys: Vec<(Key, u64)>,
    pub unknown: Vec<(String, u64)>,
    /// When each key was last written, by the server's clock (grace periods and lock
    /// ages are measured with it, never with a client's).
    pub modified: std::collections::HashMap<Key, std::time::SystemTime>,
}

impl Listing {
    /// Sort the names of a listing into keys and unknown names.
    pub fn from_names(
        names: impl IntoIterator<Item = (String, u64, Option<std::time::SystemTime>)>,
    ) -> Listing {
        let mut out = Listing::default();
        for (name, size, modified) in names {
            match Key::parse(&name) {
                Some(k) => {
                    if let Some(t) = modified {
                        out.modified.insert(k.clone(), t);
                    }
                    out.keys.push((k, size))
                }
                None => out.unknown.push((name, size)),
            }
        }
        out.keys.sort();
        out.unknown.sort();
        out
    }

    /// The size of a listed key.
    pub fn size_of(&self, key: &Key) -> Option<u64> {
        self.keys
            .binary_search_by(|(k, _)| k.cmp(key))
            .ok()
            .map(|i| self.keys[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses_back_and_nothing_else_does() {
        let id = ObjectId::hash(b"x");
        let m = ModelName::new("fraud").unwrap();
        for k in [
            Key::Marker,
            Key::Object(id),
            Key::Pack(id),
            Key::PackIndex(id),
            Key::Line(m.clone(), 1),
            Key::Line(m, 999_999_999_999),
            Key::Probe(id),
            Key::Lock(id),
        ] {
            assert_eq!(Key::parse(&k.path()), Some(k.clone()), "{k}");
        }
        let h = id.to_hex();
        for bad in [
            "objects/zz/1".to_string(),
            format!("objects/{}/{}/x", &h[..2], &h[2..]),
            format!("objects/{}", h),
            format!("objects/{}/{}", &h[..3], &h[3..]),
            format!("objects/{}/{}", &h[..2], h[2..].to_uppercase()),
            format!("packs/{h}.tmp"),
            format!("packs/{h}"),
            "models/fraud/log/1".into(),
            "models/fraud/log/000000000000".into(),
            "models/../log/000000000001".into(),
            "models/fraud/log/00000000000a".into(),
            "stray.txt".into(),
            format!("objects/{}/.mreg-tmp-abc", &h[..2]),
        ] {
            assert_eq!(Key::parse(&bad), None, "{bad}");
        }
    }
}
