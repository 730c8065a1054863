//! Timestamps: UTC, RFC 3339, to the second (`2026-01-05T09:00:00Z`), as commits and
//! history lines record them.
//!
//! A `Timestamp` made by `now()` or `parse()` is valid. One read back from a commit or a
//! history line is kept as written, even if malformed (bytes from a store are untrusted,
//! and a bad time must never make a version unreadable): `system_time()` then says `None`,
//! and callers treat it as unknown. Timestamps compare as text, which for this format is
//! chronological.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{QueryError, Result};

/// A UTC time, RFC 3339.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// Now, to the second.
    pub fn now() -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }

    pub fn from_system_time(t: SystemTime) -> Timestamp {
        Timestamp(humantime::format_rfc3339_seconds(t).to_string())
    }

    /// Parse and validate an RFC 3339 time (`2026-01-05T09:00:00Z`).
    pub fn parse(s: &str) -> Result<Timestamp> {
        humantime::parse_rfc3339_weak(s).map_err(|_| QueryError::BadTime {
            input: s.to_string(),
        })?;
        Ok(Timestamp(s.to_string()))
    }

    /// The time, or None when the recorded text is not a valid time.
    pub fn system_time(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339_weak(&self.0).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::ops::Deref for Timestamp {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Timestamp {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Timestamp {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_times_parse_and_malformed_ones_read_back_as_unknown() {
        let t = Timestamp::parse("2026-01-05T09:00:00Z").unwrap();
        assert!(t.system_time().is_some());
        assert!(Timestamp::parse("yesterday").is_err());
        let read: Timestamp = serde_json::from_str("\"not a time\"").unwrap();
        assert_eq!(read.system_time(), None);
        assert!(
            Timestamp::parse("2026-01-05T09:00:00Z").unwrap()
                < Timestamp::parse("2026-01-06T00:00:00Z").unwrap()
        );
    }
}
