//! Object ids: the blake3 hash of an object's uncompressed content.
//!
//! Ids are parsed and validated once, here; the rest of the crate never slices raw hex
//! strings. An id prints as 64 lowercase hex digits; `short()` gives the 12-digit form
//! used in listings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of an id in bytes.
pub const ID_LEN: usize = 32;
/// Length of an id in hex digits.
pub const HEX_LEN: usize = 64;
/// The shortest prefix accepted as a revision.
pub const MIN_PREFIX: usize = 4;

/// A blake3 hash naming an object, a file's content, or a commit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; ID_LEN]);

impl ObjectId {
    /// Hash `bytes` with blake3.
    pub fn hash(bytes: &[u8]) -> Self {
        ObjectId(*blake3::hash(bytes).as_bytes())
    }

    pub fn from_blake3(h: blake3::Hash) -> Self {
        ObjectId(*h.as_bytes())
    }

    /// An id from its 32 raw bytes (as an object header stores a delta's base).
    pub fn from_bytes(b: [u8; ID_LEN]) -> Self {
        ObjectId(b)
    }

    pub fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(HEX_LEN);
        for b in self.0 {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 15) as usize] as char);
        }
        s
    }

    /// The 12-digit abbreviation used in human output.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }

    /// Parse exactly 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != HEX_LEN {
            return None;
        }
        let mut out = [0u8; ID_LEN];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(ObjectId(out))
    }
}

/// A typed id: an `ObjectId` that names one kind of thing, so a manifest id can never be
/// passed where a commit id is meant. Serialized exactly as the `ObjectId` it wraps; reads
/// through to it (`id.short()`, `&CommitId` where `&ObjectId` is taken).
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub(crate) ObjectId);

        impl $name {
            /// Parse exactly 64 hex digits.
            pub fn from_hex(s: &str) -> Option<Self> {
                ObjectId::from_hex(s).map($name)
            }
            /// The untyped id.
            pub fn id(self) -> ObjectId {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = ObjectId;
            fn deref(&self) -> &ObjectId {
                &self.0
            }
        }

        impl From<ObjectId> for $name {
            fn from(id: ObjectId) -> Self {
                $name(id)
            }
        }

        impl From<$name> for ObjectId {
            fn from(id: $name) -> ObjectId {
                id.0
            }
        }

        impl PartialEq<ObjectId> for $name {
            fn eq(&self, other: &ObjectId) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for ObjectId {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.short())
            }
        }
    };
}

typed_id!(
    /// A commit: one version of one model.
    CommitId
);
typed_id!(
    /// A manifest object: the chunk list of one file.
    ManifestId
);
typed_id!(
    /// The blake3 of a whole file's content (what `b3sum` prints): not an object id.
    FileId
);
typed_id!(
    /// A note object (an evaluation, a git pin, a reproduction verdict).
    NoteId
);

const HEX: &[u8; 16] = b"0123456789abcdef";

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// True when `s` is a plausible id prefix: 4 to 64 hex digits.
pub fn is_hex_prefix(s: &str) -> bool {
    (MIN_PREFIX..=HEX_LEN).contains(&s.len()) && s.bytes().all(|c| nibble(c).is_some())
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.short())
    }
}

impl FromStr for ObjectId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ObjectId::from_hex(s).ok_or_else(|| format!("not a 64-digit hex id: {s:?}"))
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ObjectId::from_hex(&s).ok_or_else(|| serde::de::Error::custom(format!("bad id {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ObjectId::hash(b"hello\n");
        assert_eq!(id.as_bytes(), blake3::hash(b"hello\n").as_bytes());
        assert_eq!(ObjectId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(ObjectId::from_hex(&id.to_hex().to_uppercase()), Some(id));
        assert_eq!(id.short(), id.to_hex()[..12]);
        // The empty input's blake3 is a published constant.
        assert_eq!(
            ObjectId::hash(b"").to_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn rejects_bad_hex() {
        assert!(ObjectId::from_hex("abc").is_none());
        assert!(ObjectId::from_hex(&"g".repeat(64)).is_none());
        assert!(ObjectId::from_hex(&"é".repeat(32)).is_none());
        assert!(is_hex_prefix("abcd"));
        assert!(!is_hex_prefix("abc"));
        assert!(!is_hex_prefix("abcz"));
    }

    #[test]
    fn typed_ids_serialize_as_the_id_they_wrap() {
        let raw = ObjectId::hash(b"c");
        let c = CommitId(raw);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            serde_json::to_string(&raw).unwrap()
        );
        let back: CommitId = serde_json::from_str(&serde_json::to_string(&raw).unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(c, raw);
        assert_eq!(c.short(), raw.short());
        assert_eq!(CommitId::from_hex(&raw.to_hex()), Some(c));
    }
}
