//! Trust: who vouched for a version's bytes. A version is signed in the OpenSSF
//! model-signing format ([`oms`]): the SHA-256 of each of its files, read verified from the
//! store, signed with the user's EC key. The bundle is kept as a `signature` note on the
//! version (who, when, which key), so push and pull carry it and `mreg signature` writes it
//! out for `model_signing verify`. A model's settings may name the public keys it trusts
//! (`mreg policy MODEL --require-signature PUB.pem`): then promote and moving `production`
//! refuse a version without a valid signature by one of them, and `checkout --verify`
//! refuses data no trusted key signed.
//!
//! Verifying always recomputes the SHA-256 of the version's files from its verified bytes:
//! a note is untrusted input, and the digests a bundle lists are compared with the bytes
//! themselves, never with another note's word. Keys are the user's files: mreg reads them
//! and never writes a private key anywhere.

mod allowlist;
pub mod oms;
pub mod pickle;

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, TrustError};
use crate::history::{Action, MoveInfo};
use crate::id::{CommitId, NoteId};
use crate::names::ModelName;
use crate::repo::Repo;

pub use oms::{PrivateKey, PublicKey};

/// `kind` of a signature note.
pub const SIGNATURE: &str = "signature";
/// Extra key of the settings line that names a model's trusted keys (PEM texts).
pub const TRUSTED_KEYS: &str = "trusted_keys";
/// The format a stored signature is in.
pub const FORMAT: &str = "oms-v1.0-key";

/// A signature as stored on a version (a note).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignatureNote {
    pub kind: String,
    pub commit: CommitId,
    pub format: String,
    /// SHA-256 of the public key's PEM: the bundle's hint.
    pub key_hint: String,
    /// The public key, so that anyone can check who signed (trust is a separate matter).
    pub public_key: String,
    pub signer: String,
    pub time: crate::Timestamp,
    #[serde(default)]
    pub message: String,
    /// The Sigstore bundle (JSON text), byte for byte what `mreg signature` writes.
    pub bundle: String,
}

/// A signature of a version, as `show`, the dashboard and Python list it.
#[derive(Clone, Debug, Serialize)]
pub struct StoredSignature {
    pub note: NoteId,
    pub key_hint: String,
    pub signer: String,
    pub time: crate::Timestamp,
    pub message: String,
    /// Whether one of the model's trusted keys made it (None: the model trusts no key).
    pub trusted: Option<bool>,
}

/// A verification that passed.
#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    pub commit: CommitId,
    pub key_hint: String,
    pub files: usize,
    /// The stored signature that verified (None: a bundle given by the caller).
    pub note: Option<NoteId>,
}

/// Read a key file (`path` as given names it in errors).
pub fn read_key_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        TrustError::BadKey {
            path: path.display().to_string(),
            why: format!("cannot be read ({e})"),
        }
        .into()
    })
}

/// The manifest of a version: each file's SHA-256, from its verified bytes (files in
/// parallel), named relative to the version's root as `checkout --to DIR` writes them.
/// Pruned data cannot be vouched for: an error.
pub fn version_manifest(repo: &Repo, id: &CommitId) -> Result<oms::Manifest> {
    if crate::gc_marks::is_pruned(repo, id) {
        return Err(Error::Pruned { commit: *id });
    }
    let c = repo.read_commit(id)?;
    // Named as `checkout --to DIR` lays the files out: what `model_signing` sees in DIR.
    let root = c.version_root().unwrap_or_default();
    let files: Vec<(String, oms::Sha)> = c
        .files
        .par_iter()
        .map(|f| -> Result<(String, oms::Sha)> {
            let m = crate::filestore::load_manifest(repo.objects(), &f.manifest)?;
            let mut h = oms::FileHasher::default();
            for chunk in &m.chunks {
                h.update(&crate::filestore::read_chunk(repo.objects(), chunk)?);
            }
            let name = f.path.strip_prefix(root.as_str()).unwrap_or(&f.path);
            Ok((name.to_string(), h.finish()))
        })
        .collect::<Result<_>>()?;
    Ok(oms::Manifest {
        name: c.model.to_string(),
        files: files.into_iter().collect(),
    })
}

/// What `sign` stored, as every client renders it.
#[derive(Clone, Debug, Serialize)]
pub struct Signed {
    pub commit: CommitId,
    pub note: NoteId,
    pub key_hint: String,
    pub signer: String,
    pub format: String,
}

/// Sign a version with `key`: the bundle is stored as a signature note.
pub fn sign(repo: &Repo, id: &CommitId, key: &PrivateKey, info: MoveInfo) -> Result<Signed> {
    let manifest = version_manifest(repo, id)?;
    let bundle = oms::sign(&manifest, key);
    let public = key.public();
    let note = SignatureNote {
        kind: SIGNATURE.into(),
        commit: *id,
        format: FORMAT.into(),
        key_hint: public.hint(),
        public_key: public.pem(),
        signer: info.author.clone(),
        time: info.time.clone(),
        message: info.message.clone(),
        bundle,
    };
    let value = serde_json::to_value(&note).map_err(|e| Error::Encode {
        what: "a signature note",
        source: Box::new(e),
    })?;
    let note_id = crate::notes::add(repo, id, &value, info)?;
    Ok(Signed {
        commit: *id,
        note: note_id,
        key_hint: note.key_hint,
        signer: note.signer,
        format: note.format,
    })
}

/// The signature notes among a version's notes (malformed ones are skipped: untrusted
/// input).
pub fn signatures_in(
    id: &CommitId,
    notes: &[(NoteId, serde_json::Value)],
) -> Vec<(NoteId, SignatureNote)> {
    notes
        .iter()
        .filter(|(_, v)| v.get("kind").and_then(|k| k.as_str()) == Some(SIGNATURE))
        .filter_map(|(nid, v)| {
            serde_json::from_value::<SignatureNote>(v.clone())
                .ok()
                .filter(|n| n.commit == *id)
                .map(|n| (*nid, n))
        })
        .collect()
}

/// The signatures stored on a version.
pub fn signature_notes(repo: &Repo, id: &CommitId) -> Result<Vec<(NoteId, SignatureNote)>> {
    Ok(signatures_in(id, &crate::notes::notes(repo, id)?))
}

/// A version's signatures for display, marked trusted or not by the model's keys (given by
/// hint; `None`: the model's setting could not be read). Listing does not recompute
/// digests: `verify` does.
pub fn listed(
    id: &CommitId,
    notes: &[(NoteId, serde_json::Value)],
    trusted: impl FnOnce() -> Option<Vec<String>>,
) -> Vec<StoredSignature> {
    let signatures = signatures_in(id, notes);
    // The model's trusted keys are read only for a version that has signatures (a scan of
    // its history log).
    let trusted = if signatures.is_empty() {
        None
    } else {
        trusted()
    };
    let trusted = trusted.as_deref();
    signatures
        .into_iter()
        .map(|(note, n)| StoredSignature {
            note,
            trusted: trusted
                .filter(|t| !t.is_empty())
                .map(|t| t.contains(&n.key_hint)),
            key_hint: n.key_hint,
            signer: n.signer,
            time: n.time,
            message: n.message,
        })
        .collect()
}

/// The hints of the keys `model` trusts (None when its setting cannot be read).
pub fn trusted_hints(repo: &Repo, model: &ModelName) -> Option<Vec<String>> {
    trusted_keys(repo, model)
        .ok()
        .map(|keys| keys.iter().map(PublicKey::hint).collect())
}

/// Check a bundle with `key` against the version's files as they are.
fn check_bundle(
    bundle: &str,
    key: &PublicKey,
    id: &CommitId,
    actual: &oms::Manifest,
) -> Result<()> {
    let signed = oms::verify(bundle, key)?;
    let diff = signed.differences(&actual.files);
    if !diff.is_empty() {
        return Err(TrustError::FilesDiffer {
            commit: *id,
            differences: diff.describe(),
        }
        .into());
    }
    Ok(())
}

/// Verify a bundle given by the caller (e.g. made by `model_signing sign key`) with `key`
/// against the version's files.
pub fn verify_bundle(
    repo: &Repo,
    id: &CommitId,
    bundle: &str,
    key: &PublicKey,
) -> Result<Verified> {
    let actual = version_manifest(repo, id)?;
    check_bundle(bundle, key, id, &actual)?;
    Ok(Verified {
        commit: *id,
        key_hint: key.hint(),
        files: actual.files.len(),
        note: None,
    })
}

/// Verify the version's stored signatures: one made by one of `keys` must verify against
/// the files. The error says why each candidate failed (or that none was made by them).
pub fn verify_stored(repo: &Repo, id: &CommitId, keys: &[PublicKey]) -> Result<Verified> {
    let notes = signature_notes(repo, id)?;
    if notes.is_empty() {
        return Err(TrustError::Unsigned { commit: *id }.into());
    }
    let actual = version_manifest(repo, id)?;
    let mut why = Vec::new();
    for (nid, n) in &notes {
        let Some(key) = keys.iter().find(|k| k.hint() == n.key_hint) else {
            why.push(format!(
                "{} by {} (key {}): not a trusted key",
                nid.short(),
                n.signer,
                &n.key_hint[..12.min(n.key_hint.len())]
            ));
            continue;
        };
        match check_bundle(&n.bundle, key, id, &actual) {
            Ok(()) => {
                return Ok(Verified {
                    commit: *id,
                    key_hint: key.hint(),
                    files: actual.files.len(),
                    note: Some(*nid),
                })
            }
            Err(e) => why.push(format!("{} by {}: {e}", nid.short(), n.signer)),
        }
    }
    Err(TrustError::NotTrusted {
        commit: *id,
        why: why.join("; "),
    }
    .into())
}

/// Verify a version as `mreg verify` does: a given bundle (checked with the key it names,
/// else the first) or the stored signatures, with `keys` — empty: the keys the model
/// trusts (none: an error, there is nothing to verify against).
pub fn verify(
    repo: &Repo,
    id: &CommitId,
    keys: Vec<PublicKey>,
    bundle: Option<&str>,
) -> Result<Verified> {
    let keys = if keys.is_empty() {
        let model = repo.read_commit(id)?.model;
        let trusted = trusted_keys(repo, &model)?;
        if trusted.is_empty() {
            return Err(TrustError::NoTrustedKeys { model }.into());
        }
        trusted
    } else {
        keys
    };
    match bundle {
        Some(bundle) => {
            let hint = oms::bundle_hint(bundle).unwrap_or_default();
            let key = keys.iter().find(|k| k.hint() == hint).unwrap_or(&keys[0]);
            verify_bundle(repo, id, bundle, key)
        }
        None => verify_stored(repo, id, &keys),
    }
}

/// The stored signature `mreg signature` writes out: the newest, or the newest made with
/// one of `keys`.
pub fn stored_bundle(repo: &Repo, id: &CommitId, keys: &[PublicKey]) -> Result<SignatureNote> {
    signature_notes(repo, id)?
        .into_iter()
        .rev()
        .map(|(_, n)| n)
        .find(|n| keys.is_empty() || keys.iter().any(|k| k.hint() == n.key_hint))
        .ok_or_else(|| TrustError::Unsigned { commit: *id }.into())
}

/// Read public key files (each named as given in errors).
pub fn read_public_keys(paths: &[std::path::PathBuf]) -> Result<Vec<PublicKey>> {
    paths
        .iter()
        .map(|p| PublicKey::from_pem(&read_key_file(p)?, &p.display().to_string()))
        .collect()
}

/// The public keys `model` trusts (its settings; empty: no signature required).
pub fn trusted_keys(repo: &Repo, model: &ModelName) -> Result<Vec<PublicKey>> {
    let Some(v) = repo.model_log(model).last_extra(TRUSTED_KEYS)? else {
        return Ok(Vec::new());
    };
    let pems: Vec<String> = serde_json::from_value(v).unwrap_or_default();
    // A key that does not parse is a broken setting: refuse rather than trust less.
    pems.iter()
        .map(|p| PublicKey::from_pem(p, &format!("{model}'s trusted keys")))
        .collect()
}

/// Set the keys `model` trusts (empty: require no signature). One settings line.
pub fn set_trusted_keys(
    repo: &Repo,
    model: &ModelName,
    keys: &[PublicKey],
    info: MoveInfo,
) -> Result<()> {
    let pems: Vec<String> = keys.iter().map(PublicKey::pem).collect();
    repo.transact(
        model,
        info,
        Action::Other(crate::refs::settings::SETTINGS.into()),
        |t| {
            t.set_extra(TRUSTED_KEYS, serde_json::json!(pems));
            Ok(())
        },
    )?;
    Ok(())
}

/// Extra key of a history line that took a version with unsafe pickles into production
/// (`--allow-unsafe`): the findings it accepted.
pub const ALLOW_UNSAFE: &str = "allow_unsafe";

/// What promote and `alias set production` require of a version: no pickle that would
/// run code nobody vouched for (unless `allow_unsafe`), and, if its model trusts keys, a
/// valid signature by one of them (the files' digests are recomputed: data must be here).
/// Returns the findings `allow_unsafe` accepted, to be recorded with the move.
pub fn check_promotable(
    repo: &Repo,
    model: &ModelName,
    id: &CommitId,
    allow_unsafe: bool,
) -> Result<Vec<String>> {
    let c = repo.read_commit(id)?;
    let findings: Vec<String> = c.unsafe_pickles.iter().map(|f| f.describe()).collect();
    if !findings.is_empty() && !allow_unsafe {
        return Err(TrustError::UnsafePickle {
            commit: *id,
            findings,
        }
        .into());
    }
    let keys = trusted_keys(repo, model)?;
    if !keys.is_empty() {
        verify_stored(repo, id, &keys)?;
    }
    Ok(findings)
}
