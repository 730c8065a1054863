//! Validated names (models, aliases, tags) and repository-relative paths.
//!
//! Anything that becomes part of a path inside the store, or a path in a work tree, is
//! validated here, once, at the boundary: a name can never contain `/` or be `..`, and a
//! recorded file path can never be absolute or climb out of the repository.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A name or path that is not valid. Defined here, not in `error.rs`, so that the error
/// type can name its subjects with these types (`ModelName`, `AliasName`) without the two
/// modules importing each other; it converts into `Error::InvalidName` / `InvalidPath`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    Name {
        what: &'static str,
        name: String,
        why: &'static str,
    },
    Path {
        path: String,
        why: String,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Name { what, name, why } => write!(f, "invalid {what} {name:?}: {why}"),
            NameError::Path { path, why } => write!(f, "invalid path {path:?}: {why}"),
        }
    }
}

impl std::error::Error for NameError {}

type Result<T, E = NameError> = std::result::Result<T, E>;

/// Longest accepted name.
pub const MAX_NAME_LEN: usize = 100;

/// Check a model, alias or tag name: letters, digits, `.`, `_`, `-`; not empty, not `.` or
/// `..`, at most 100 characters, not starting with `-` or `.` (so it can't look like a flag
/// or a hidden file).
pub fn validate_name(what: &'static str, name: &str) -> Result<()> {
    let bad = |why| {
        Err(NameError::Name {
            what,
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("it is longer than 100 characters");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are reserved");
    }
    if name.starts_with('-') || name.starts_with('.') {
        return bad("it must not start with '-' or '.'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("only letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// A validated model name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelName(String);

impl ModelName {
    pub fn new(s: &str) -> Result<Self> {
        validate_name("model name", s)?;
        Ok(ModelName(s.to_string()))
    }

    /// Several names, as a command or a Python call takes them; the first bad one fails.
    pub fn parse_all(names: &[String]) -> Result<Vec<Self>> {
        names.iter().map(|m| ModelName::new(m)).collect()
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ModelName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ModelName::new(&s).map_err(|e| e.to_string())
    }
}

impl From<ModelName> for String {
    fn from(m: ModelName) -> String {
        m.0
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Names the revision syntax gives meaning to, which an alias may not take.
/// Names that read as pointers the registry moves by itself: MODEL already means the latest
/// version, so an alias `latest` that a person moves would lie as soon as someone commits.
const RESERVED_ALIASES: &[&str] = &["head", "HEAD", "latest", "LATEST"];

macro_rules! ref_name {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

ref_name!(
    /// A validated alias name: a name, and not one the revision syntax reads otherwise
    /// (`head`). Read back from history without re-validation (it was validated when
    /// written; it is only ever a map key and text).
    AliasName
);

ref_name!(
    /// A validated tag name: a name that cannot be read as a commit id prefix.
    TagName
);

impl AliasName {
    /// One of the conventional names (`production`, `candidate`...), known valid.
    pub(crate) fn conventional(s: &'static str) -> Self {
        AliasName(s.to_string())
    }

    pub fn new(s: &str) -> Result<Self> {
        validate_name("alias", s)?;
        if RESERVED_ALIASES.contains(&s) {
            return Err(NameError::Name {
                what: "alias",
                name: s.into(),
                why: "'head' and 'latest' are reserved: MODEL itself means the model's latest version",
            });
        }
        Ok(AliasName(s.to_string()))
    }
}

impl TagName {
    pub fn new(s: &str) -> Result<Self> {
        validate_name("tag name", s)?;
        if crate::id::is_hex_prefix(s) {
            return Err(NameError::Name {
                what: "tag name",
                name: s.into(),
                why: "it looks like a commit id prefix (4 or more hex digits); add a letter outside a-f, e.g. v1 or r-2024",
            });
        }
        Ok(TagName(s.to_string()))
    }
}

/// Check a repository-relative path as recorded in a commit: `/`-separated, relative, no
/// empty, `.` or `..` components, nothing inside a `.modelreg` directory, no NUL or
/// backslash (so it means the same on every platform).
pub fn validate_rel_path(p: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(NameError::Path {
            path: p.to_string(),
            why: why.to_string(),
        })
    };
    if p.is_empty() {
        return bad("it is empty");
    }
    if p.starts_with('/') {
        return bad("it is absolute");
    }
    if p.contains('\0') || p.contains('\\') {
        return bad("it contains a NUL or backslash");
    }
    for comp in p.split('/') {
        match comp {
            "" => return bad("it has an empty component"),
            "." | ".." => return bad("it has a '.' or '..' component"),
            ".modelreg" => return bad("it points inside an mreg store"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["mnist", "resnet-50", "a.b_c", "X1"] {
            validate_name("model name", ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "-x",
            ".hidden",
            "a b",
            "ü",
            &"x".repeat(101),
        ] {
            assert!(validate_name("model name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths() {
        for ok in ["model.bin", "models/a/b.safetensors", "a..b"] {
            validate_rel_path(ok).unwrap();
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            ".modelreg/x",
            "a\\b",
        ] {
            assert!(validate_rel_path(bad).is_err(), "{bad:?}");
        }
    }
}
