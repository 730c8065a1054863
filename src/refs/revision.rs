//! Revisions: the ways a user names a commit.
//!
//! ```text
//! <id or unique prefix of 4+ hex digits>
//! MODEL                 the model's head
//! MODEL@ALIAS           an alias of the model
//! MODEL@ALIAS@{N}       what the alias pointed at N moves ago (from the history log)
//! MODEL#N               version number N of the model (`versions`: the same on every store)
//! TAG                   a tag
//! REV~N                 N commits back along the first parent (REV~ = REV~1)
//! ```
//!
//! Names are looked up before hex prefixes, as git looks up refs before abbreviated ids.

use crate::error::{Error, Result};
use crate::id::{self, CommitId};
use crate::names::{validate_name, ModelName};
use crate::object::Kind;
use crate::repo::Repo;

/// A parsed revision, before resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// A model name, a tag, or a hex prefix: decided at resolution.
    Name(String),
    Alias {
        model: String,
        alias: String,
        moves_ago: usize,
    },
    /// `MODEL#N`: a version by its number.
    Number { model: String, number: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rev {
    pub base: Base,
    pub back: usize,
}

/// Parse the syntax of a revision (no store access).
pub fn parse(s: &str) -> Result<Rev> {
    let bad = || Error::UnknownRevision(s.to_string());
    let (mut base, mut back) = (s, 0usize);
    if let Some(i) = s.find('~') {
        base = &s[..i];
        for part in s[i + 1..].split('~') {
            let n = if part.is_empty() {
                1
            } else {
                part.parse::<usize>().map_err(|_| bad())?
            };
            back = back.checked_add(n).ok_or_else(bad)?;
        }
    }
    if base.is_empty() {
        return Err(bad());
    }
    let parsed = match base.split_once('@') {
        None => match base.split_once('#') {
            Some((model, n)) => {
                validate_name("model name", model)?;
                Base::Number {
                    model: model.to_string(),
                    number: crate::versions::parse_number(n).ok_or_else(bad)?,
                }
            }
            None => Base::Name(base.to_string()),
        },
        Some((model, rest)) => {
            let (alias, moves_ago) = match rest.split_once("@{") {
                None => (rest, 0),
                Some((a, n)) => {
                    let n = n.strip_suffix('}').ok_or_else(bad)?;
                    (a, n.parse::<usize>().map_err(|_| bad())?)
                }
            };
            validate_name("model name", model)?;
            validate_name("alias", alias)?;
            Base::Alias {
                model: model.to_string(),
                alias: alias.to_string(),
                moves_ago,
            }
        }
    };
    Ok(Rev { base: parsed, back })
}

impl Repo {
    /// Resolve several revisions, in order; the first that fails is the error.
    pub fn resolve_all<S: AsRef<str>>(&self, revs: &[S]) -> Result<Vec<CommitId>> {
        revs.iter().map(|r| self.resolve(r.as_ref())).collect()
    }

    /// Resolve a revision string to a commit id.
    pub fn resolve(&self, s: &str) -> Result<CommitId> {
        self.resolve_exact(s).map_err(|e| self.suggest(s, e))
    }

    /// An error about a name that does not exist, with the existing name it is closest to
    /// (`clff` -> `clf`, `clf@prodution` -> `clf@production`), when one is close.
    pub fn suggest(&self, rev: &str, e: Error) -> Error {
        let suggestion = match &e {
            Error::UnknownModel(m) => self.close_model(m.as_str()).map(|close| match parse(rev) {
                // `clff@production`: the whole revision, corrected.
                Ok(Rev {
                    base: Base::Alias { alias, .. },
                    ..
                }) => format!("{close}@{alias}"),
                _ => close,
            }),
            Error::UnknownRevision(_) => match parse(rev).map(|r| r.base) {
                Ok(Base::Alias { model, alias, .. }) => match ModelName::new(&model) {
                    Ok(m) if self.model_exists(&m) => {
                        let names: Vec<String> = self
                            .model_state(&m)
                            .map(|st| st.aliases.keys().map(|a| a.to_string()).collect())
                            .unwrap_or_default();
                        closest(&alias, names.iter().map(String::as_str))
                            .map(|a| format!("{model}@{a}"))
                    }
                    _ => self.close_model(&model).map(|m| format!("{m}@{alias}")),
                },
                Ok(Base::Name(name)) if !id::is_hex_prefix(&name) => {
                    let mut names: Vec<String> = self
                        .models()
                        .map(|ms| ms.iter().map(|m| m.to_string()).collect())
                        .unwrap_or_default();
                    if let Ok(tags) = crate::refs::tags(self) {
                        names.extend(tags.iter().map(|t| t.name.tag.to_string()));
                    }
                    closest(&name, names.iter().map(String::as_str)).map(String::from)
                }
                _ => None,
            },
            _ => None,
        };
        match suggestion {
            Some(suggestion) => Error::Suggested {
                error: Box::new(e),
                suggestion,
            },
            None => e,
        }
    }

    /// Ok when `model` has a history; else the unknown-model error, with the closest model
    /// name when one is close (a typo).
    pub fn require_model(&self, model: &ModelName) -> Result<()> {
        if self.model_exists(model) {
            return Ok(());
        }
        Err(self.suggest(model.as_str(), Error::UnknownModel(model.clone())))
    }

    fn close_model(&self, name: &str) -> Option<String> {
        let models = self.models().ok()?;
        closest(name, models.iter().map(|m| m.as_str())).map(String::from)
    }

    fn resolve_exact(&self, s: &str) -> Result<CommitId> {
        let rev = parse(s)?;
        let mut id = match &rev.base {
            Base::Alias {
                model,
                alias,
                moves_ago,
            } => self.resolve_alias(s, &ModelName::new(model)?, alias, *moves_ago)?,
            Base::Name(name) => self.resolve_name(s, name)?,
            Base::Number { model, number } => {
                self.resolve_number(&ModelName::new(model)?, *number)?
            }
        };
        for i in 0..rev.back {
            let c = self.read_commit(&id)?;
            id = *c.parent().ok_or_else(|| Error::HistoryTooShort {
                rev: s.to_string(),
                asked: rev.back,
                available: i,
            })?;
        }
        Ok(id)
    }

    fn resolve_name(&self, s: &str, name: &str) -> Result<CommitId> {
        if let Ok(m) = ModelName::new(name) {
            if self.model_exists(&m) {
                return self.model_state(&m)?.head.ok_or_else(|| {
                    Error::UnknownRevision(format!(
                        "{s} (model {m} has no version yet; `mreg runs {m}` lists its runs)"
                    ))
                });
            }
            if let Some(id) = self.find_tag(name)? {
                return Ok(id);
            }
        }
        if id::is_hex_prefix(name) {
            let mut found = Vec::new();
            for cand in self.objects().find_prefix(name)? {
                if matches!(self.objects().header(&cand), Ok(h) if h.kind == Kind::Commit) {
                    found.push(cand);
                }
            }
            return match found.len() {
                0 => Err(Error::UnknownRevision(s.to_string())),
                1 => Ok(CommitId(found[0])),
                _ => Err(Error::AmbiguousRevision {
                    prefix: name.to_string(),
                    candidates: found.iter().map(|c| c.short()).collect(),
                }),
            };
        }
        Err(Error::UnknownRevision(s.to_string()))
    }

    /// The commit a tag points at, searching every model's refs.
    pub fn find_tag(&self, tag: &str) -> Result<Option<CommitId>> {
        for m in self.models()? {
            if let Some(id) = self.model_state(&m)?.tags.get(tag) {
                return Ok(Some(*id));
            }
        }
        Ok(None)
    }

    fn resolve_number(&self, model: &ModelName, number: u64) -> Result<CommitId> {
        if !self.model_exists(model) {
            return Err(Error::UnknownModel(model.clone()));
        }
        let entries = self.history_entries(model)?;
        let numbering = crate::versions::numbering(self, model, &entries)?;
        let known = crate::versions::ordered(&numbering, &entries);
        if let Some((id, _)) = known.iter().find(|(_, n)| *n == Some(number)) {
            return Ok(*id);
        }
        let latest = known.iter().filter_map(|(_, n)| *n).max();
        Err(Error::UnknownVersionNumber {
            model: model.clone(),
            number,
            latest,
            upstream: match numbering.authority {
                crate::versions::Authority::Remote(r) => Some(r),
                crate::versions::Authority::Local => None,
            },
        })
    }

    fn resolve_alias(
        &self,
        s: &str,
        model: &ModelName,
        alias: &str,
        moves_ago: usize,
    ) -> Result<CommitId> {
        if !self.model_exists(model) {
            return Err(Error::UnknownModel(model.clone()));
        }
        let alias_name = crate::names::AliasName::new(alias)?;
        let key = crate::history::RefName::Alias(alias_name.clone());
        if moves_ago == 0 {
            return self
                .model_state(model)?
                .aliases
                .get(alias)
                .copied()
                .ok_or_else(|| Error::UnknownRevision(s.to_string()));
        }
        let (entries, _) = self.model_log(model).entries()?;
        let values: Vec<Option<CommitId>> = entries
            .iter()
            .flat_map(|e| e.changes.iter().filter(|c| c.name == key).map(|c| c.new))
            .collect();
        let idx =
            values
                .len()
                .checked_sub(1 + moves_ago)
                .ok_or_else(|| Error::AliasHistoryTooShort {
                    rev: s.to_string(),
                    model: model.clone(),
                    alias: alias_name,
                    asked: moves_ago,
                    targets: values.len(),
                })?;
        values[idx]
            .ok_or_else(|| Error::UnknownRevision(format!("{s} (the alias was removed then)")))
    }
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a typo
/// (at most 2 edits, and fewer than half the name's length).
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = 2.min(name.chars().count().saturating_sub(1) / 2 + 1);
    candidates
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance (insertions, deletions, substitutions), by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_the_close_name_and_nothing_far() {
        let names = ["clf", "fraud", "production", "candidate"];
        assert_eq!(closest("clff", names.into_iter()), Some("clf"));
        assert_eq!(closest("prodution", names.into_iter()), Some("production"));
        assert_eq!(closest("frau", names.into_iter()), Some("fraud"));
        assert_eq!(closest("xyz", names.into_iter()), None);
        assert_eq!(closest("ab", ["cd"].into_iter()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn syntax() {
        assert_eq!(
            parse("mnist~2").unwrap(),
            Rev {
                base: Base::Name("mnist".into()),
                back: 2
            }
        );
        assert_eq!(parse("abcd~").unwrap().back, 1);
        assert_eq!(parse("a~1~2").unwrap().back, 3);
        assert_eq!(
            parse("m@production@{3}~1").unwrap(),
            Rev {
                base: Base::Alias {
                    model: "m".into(),
                    alias: "production".into(),
                    moves_ago: 3
                },
                back: 1
            }
        );
        assert_eq!(
            parse("m#12~1").unwrap(),
            Rev {
                base: Base::Number {
                    model: "m".into(),
                    number: 12
                },
                back: 1
            }
        );
        for bad in [
            "", "~1", "m~x", "m@", "@a", "m@a@{x}", "m@a@{1", "a/b@c", "m#", "m#0", "m#x", "#3",
            "m#-1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
