//! The rules every move of a model's refs obeys, whoever makes it.
//!
//! Local commands check what they are asked before they move anything (with errors that
//! name the command's arguments); a line pulled from a remote was checked by nobody this
//! store trusts. So `Repo::transact` — the one door every move goes through, local or
//! replayed from a remote — checks the move it is about to write against these rules, and
//! `fsck --remote` checks every remote line against them. A move that breaks one is not
//! written; for a remote line, pull names the remote and the line (issue 23).
//!
//! The rules, on what the move changes (refs it leaves alone are not re-judged, so a
//! store with older, looser history keeps working):
//! 1. Every alias and tag it creates has a valid name (`AliasName::new`, `TagName::new`:
//!    no path characters or markup, no reserved word, no tag that looks like a commit id).
//! 2. A tag, once set, never points elsewhere (it may be deleted).
//! 3. Every ref it sets points at a commit of this model.
//! 4. A version it archives, labels or annotates is a commit of this model, and no alias
//!    points at a version it archives.
//! 5. A policy it sets names a ranking key that parses.

use std::collections::BTreeMap;

use crate::history::{RefName, RefState};
use crate::id::CommitId;
use crate::names::{AliasName, ModelName, TagName};

/// Check one move of `model`'s refs from `before` to `after`, with its `extra` facts.
/// `model_of` says which model a commit belongs to (None: not a commit here). Returns
/// the first rule broken, in words.
pub fn check_move(
    model: &ModelName,
    before: &RefState,
    after: &RefState,
    extra: &BTreeMap<String, serde_json::Value>,
    model_of: &dyn Fn(&CommitId) -> Option<ModelName>,
) -> Result<(), String> {
    let target = |what: &str, id: &CommitId| -> Result<(), String> {
        match model_of(id) {
            Some(m) if &m == model => Ok(()),
            Some(m) => Err(format!(
                "{what} points at {}, a version of model {m}, not of {model}",
                id.short()
            )),
            None => Err(format!(
                "{what} points at {}, which is not a commit in this store",
                id.short()
            )),
        }
    };
    for (name, id) in after.refs() {
        if before.get(&name) == Some(id) {
            continue;
        }
        match &name {
            RefName::Head => {}
            RefName::Alias(a) => {
                if !before.aliases.contains_key(a) {
                    AliasName::new(a.as_str()).map_err(|e| e.to_string())?;
                }
            }
            RefName::Tag(t) => {
                if let Some(old) = before.tags.get(t) {
                    return Err(format!(
                        "tag {t} moves from {} to {}: tags are immutable",
                        old.short(),
                        id.short()
                    ));
                }
                TagName::new(t.as_str()).map_err(|e| e.to_string())?;
            }
        }
        target(&name.describe(), &id)?;
    }
    let extra_id = |key: &str| {
        extra
            .get(key)
            .and_then(|v| v.as_str())
            .map(|s| CommitId::from_hex(s).ok_or_else(|| format!("{key} {s:?} is not a commit id")))
    };
    for key in ["archived", "unarchived", "commit", "pruned"] {
        if let Some(id) = extra_id(key) {
            target(&format!("the move's {key} version"), &id?)?;
        }
    }
    if let Some(p) = extra.get(crate::policy::POLICY).filter(|v| !v.is_null()) {
        let p: crate::repo::Policy = serde_json::from_value(p.clone())
            .map_err(|e| format!("its policy is not a policy: {e}"))?;
        crate::policy::key(&p).map_err(|e| e.to_string())?;
    }
    if let Some(id) = extra_id("archived") {
        let id = id?;
        let pointing: Vec<String> = after
            .aliases
            .iter()
            .filter(|(_, v)| **v == id)
            .map(|(k, _)| format!("alias {k}"))
            .collect();
        if !pointing.is_empty() {
            return Err(format!(
                "it archives {}, which {} points at",
                id.short(),
                pointing.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> CommitId {
        CommitId(crate::id::ObjectId::hash(&[n]))
    }

    fn state(aliases: &[(&str, u8)], tags: &[(&str, u8)]) -> RefState {
        let mut s = RefState {
            head: Some(id(1)),
            ..Default::default()
        };
        for (a, n) in aliases {
            s.aliases.insert(
                serde_json::from_value(serde_json::json!(a)).unwrap(),
                id(*n),
            );
        }
        for (t, n) in tags {
            s.tags.insert(
                serde_json::from_value(serde_json::json!(t)).unwrap(),
                id(*n),
            );
        }
        s
    }

    #[test]
    fn hostile_remote_moves_break_the_rules_local_moves_obey() {
        let m = ModelName::new("m").unwrap();
        let other = ModelName::new("other").unwrap();
        let model_of = |c: &CommitId| -> Option<ModelName> {
            if *c == id(9) {
                Some(other.clone())
            } else if *c == id(8) {
                None
            } else {
                Some(ModelName::new("m").unwrap())
            }
        };
        let none = BTreeMap::new();
        let before = state(&[("production", 2)], &[("v1", 2)]);
        let ok = state(&[("production", 3)], &[("v1", 2)]);
        assert!(check_move(&m, &before, &ok, &none, &model_of).is_ok());
        for (after, why) in [
            (
                state(&[("production", 2), ("<script>", 2)], &[("v1", 2)]),
                "alias",
            ),
            (
                state(&[("production", 2), ("../../x", 2)], &[("v1", 2)]),
                "alias",
            ),
            (
                state(&[("production", 2)], &[("v1", 2), (&id(3).to_hex(), 3)]),
                "commit id",
            ),
            (state(&[("production", 2)], &[("v1", 3)]), "immutable"),
            (state(&[("production", 9)], &[("v1", 2)]), "model other"),
            (state(&[("production", 8)], &[("v1", 2)]), "not a commit"),
        ] {
            let e = check_move(&m, &before, &after, &none, &model_of).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let mut archive = BTreeMap::new();
        archive.insert("archived".to_string(), id(2).to_hex().into());
        let e = check_move(&m, &before, &before, &archive, &model_of).unwrap_err();
        assert!(e.contains("alias production"), "{e}");
        // A ref the move leaves alone is not re-judged.
        let old = state(&[("production", 9)], &[]);
        let mut moved = old.clone();
        moved.head = Some(id(4));
        assert!(check_move(&m, &old, &moved, &none, &model_of).is_ok());
    }
}
