//! The OpenSSF model-signing format (OMS v1.0), key-based flow: what `model_signing sign
//! key` writes and `model_signing verify key` reads, so that a signature made by either
//! tool verifies with the other.
//!
//! A *manifest* lists a model's files with their SHA-256; the signed payload is an in-toto
//! Statement v1 whose predicate (`https://model_signing/signature/v1.0`) holds the
//! resources sorted by name and whose single subject's digest is SHA-256 over the raw
//! digests in that order. It is signed as a DSSE envelope (ECDSA over the pre-authentication
//! encoding `DSSEv1 LEN TYPE LEN PAYLOAD`, DER signature) inside a Sigstore bundle v0.3
//! whose verification material is the SHA-256 of the public key's PEM (a hint; no
//! transparency log entry: the key flow is offline). Only P-256 keys are taken here (the
//! curve `openssl ecparam -name prime256v1` makes); keyless Sigstore signing would put a
//! certificate and log entries in the same bundle's verification material.
//!
//! Everything read (bundles, keys) is untrusted input: every field is checked, and a
//! failure says which.

use std::collections::BTreeMap;

use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::error::{Result, TrustError};

pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// What `model_signing` ignores by default; recorded in the manifest as it records it.
pub const DEFAULT_IGNORED: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// A SHA-256 digest.
pub type Sha = [u8; 32];

/// What a signature covers: the model's name and each file's SHA-256 by relative path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub name: String,
    pub files: BTreeMap<String, Sha>,
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Sha> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Manifest {
    /// The subject's digest: SHA-256 over the files' raw digests, in name order.
    pub fn root_digest(&self) -> Sha {
        let mut h = Sha256::new();
        for d in self.files.values() {
            h.update(d);
        }
        h.finalize().into()
    }

    /// The in-toto statement that is signed.
    fn statement(&self) -> Value {
        let resources: Vec<Value> = self
            .files
            .iter()
            .map(|(name, d)| json!({"algorithm": "sha256", "digest": hex(d), "name": name}))
            .collect();
        json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.name, "digest": {"sha256": hex(&self.root_digest())}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "resources": resources,
                "serialization": {
                    "ignore_paths": DEFAULT_IGNORED,
                    "hash_type": "sha256",
                    "method": "files",
                    "allow_symlinks": false,
                },
            },
        })
    }

    /// How `actual` (the files as they are) differs from this manifest: missing, extra and
    /// changed paths, each list sorted (all empty: the same files, the same bytes).
    pub fn differences(&self, actual: &BTreeMap<String, Sha>) -> Differences {
        let mut d = Differences::default();
        for (name, want) in &self.files {
            match actual.get(name) {
                None => d.missing.push(name.clone()),
                Some(got) if got != want => d.changed.push(name.clone()),
                Some(_) => {}
            }
        }
        d.extra = actual
            .keys()
            .filter(|n| !self.files.contains_key(*n))
            .cloned()
            .collect();
        d
    }
}

/// How files differ from a signed manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Differences {
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    pub changed: Vec<String>,
}

impl Differences {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changed.is_empty()
    }

    /// For people: "changed: a.bin; missing: b.bin".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (what, list) in [
            ("changed", &self.changed),
            ("missing", &self.missing),
            ("not signed", &self.extra),
        ] {
            if !list.is_empty() {
                let shown: Vec<&str> = list.iter().take(5).map(String::as_str).collect();
                let more = if list.len() > 5 {
                    format!(" and {} more", list.len() - 5)
                } else {
                    String::new()
                };
                parts.push(format!("{what}: {}{more}", shown.join(", ")));
            }
        }
        parts.join("; ")
    }
}

/// The pre-authentication encoding DSSE signs.
pub fn pae(payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {PAYLOAD_TYPE} {} ",
        PAYLOAD_TYPE.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A P-256 private key (PEM: SEC1 `EC PRIVATE KEY` as openssl writes it, or PKCS#8).
pub struct PrivateKey(p256::ecdsa::SigningKey);

/// A P-256 public key (PEM `PUBLIC KEY`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(p256::ecdsa::VerifyingKey);

fn bad_key(path: &str, why: impl Into<String>) -> crate::Error {
    TrustError::BadKey {
        path: path.to_string(),
        why: why.into(),
    }
    .into()
}

impl PrivateKey {
    /// Read a PEM private key; `path` names it in errors.
    pub fn from_pem(pem: &str, path: &str) -> Result<PrivateKey> {
        if pem.contains("ENCRYPTED") {
            return Err(bad_key(
                path,
                "is encrypted; mreg takes unencrypted keys (decrypt a copy: openssl ec -in KEY -out PLAIN)",
            ));
        }
        let secret = if pem.contains("BEGIN EC PRIVATE KEY") {
            p256::SecretKey::from_sec1_pem(pem)
                .map_err(|e| bad_key(path, format!("not a P-256 EC private key ({e})")))?
        } else if pem.contains("BEGIN PRIVATE KEY") {
            p256::SecretKey::from_pkcs8_pem(pem).map_err(|e| {
                bad_key(
                    path,
                    format!("not a P-256 private key ({e}); mreg signs with prime256v1 keys"),
                )
            })?
        } else {
            return Err(bad_key(
                path,
                "is not a PEM private key (openssl ecparam -name prime256v1 -genkey -noout -out key.pem makes one)",
            ));
        };
        Ok(PrivateKey(secret.into()))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(*self.0.verifying_key())
    }
}

impl PublicKey {
    /// Read a PEM public key; `path` names it in errors.
    pub fn from_pem(pem: &str, path: &str) -> Result<PublicKey> {
        if pem.contains("PRIVATE KEY") {
            return Err(bad_key(
                path,
                "is a private key; give the public key (openssl ec -in key.pem -pubout -out pub.pem)",
            ));
        }
        p256::ecdsa::VerifyingKey::from_public_key_pem(pem)
            .map(PublicKey)
            .map_err(|e| bad_key(path, format!("not a P-256 public key in PEM ({e})")))
    }

    /// The key as PEM (SubjectPublicKeyInfo, 64-column lines), as `cryptography` writes it.
    pub fn pem(&self) -> String {
        self.0.to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }

    /// The bundle's key hint: SHA-256 of [`PublicKey::pem`], in hex.
    pub fn hint(&self) -> String {
        hex(&Sha256::digest(self.pem().as_bytes()))
    }
}

/// Sign `manifest`: the bundle, as JSON text (what `model_signing` writes to `model.sig`).
pub fn sign(manifest: &Manifest, key: &PrivateKey) -> String {
    let payload = serde_json::to_vec_pretty(&manifest.statement()).unwrap_or_default();
    let sig: p256::ecdsa::Signature = key.0.sign(&pae(&payload));
    let b64 = base64::engine::general_purpose::STANDARD;
    let bundle = json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": key.public().hint()},
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": b64.encode(&payload),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": b64.encode(sig.to_der().as_bytes()), "keyid": ""}],
        },
    });
    serde_json::to_string_pretty(&bundle).unwrap_or_default()
}

fn bad(why: impl Into<String>) -> crate::Error {
    TrustError::BadBundle { why: why.into() }.into()
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur
            .get(*p)
            .ok_or_else(|| bad(format!("no {}", path.join("."))))?;
    }
    Ok(cur)
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str> {
    field(v, path)?
        .as_str()
        .ok_or_else(|| bad(format!("{} is not a string", path.join("."))))
}

/// The key hint a bundle names (empty when it names none).
pub fn bundle_hint(bundle: &str) -> Option<String> {
    let v: Value = serde_json::from_str(bundle).ok()?;
    Some(
        text(&v, &["verificationMaterial", "publicKey", "hint"])
            .ok()?
            .to_string(),
    )
}

/// Verify a bundle with `key`: its signature over its payload, then the payload's
/// statement. Returns the manifest it signs (compare it with the files).
pub fn verify(bundle: &str, key: &PublicKey) -> Result<Manifest> {
    let v: Value = serde_json::from_str(bundle).map_err(|e| bad(format!("not JSON ({e})")))?;
    let media = text(&v, &["mediaType"])?;
    if !media.starts_with("application/vnd.dev.sigstore.bundle") {
        return Err(bad(format!(
            "media type {media:?} is not a Sigstore bundle"
        )));
    }
    if let Ok(hint) = text(&v, &["verificationMaterial", "publicKey", "hint"]) {
        if !hint.is_empty() && hint != key.hint() {
            return Err(TrustError::WrongKey {
                hint: hint.to_string(),
                key: key.hint(),
            }
            .into());
        }
    }
    let env = field(&v, &["dsseEnvelope"])?;
    let ptype = text(env, &["payloadType"])?;
    if ptype != PAYLOAD_TYPE {
        return Err(bad(format!(
            "payload type {ptype:?}, expected {PAYLOAD_TYPE}"
        )));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode(text(env, &["payload"])?)
        .map_err(|e| bad(format!("payload is not base64 ({e})")))?;
    let sigs = field(env, &["signatures"])?
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("no signature in the envelope"))?;
    let sig = b64
        .decode(text(&sigs[0], &["sig"])?)
        .map_err(|e| bad(format!("signature is not base64 ({e})")))?;
    let sig = p256::ecdsa::Signature::from_der(&sig)
        .map_err(|_| bad("the signature is not a DER ECDSA P-256 signature"))?;
    key.0
        .verify(&pae(&payload), &sig)
        .map_err(|_| TrustError::BadSignature)?;
    // Signed by this key: now the statement itself.
    let st: Value = serde_json::from_slice(&payload)
        .map_err(|e| bad(format!("the signed payload is not JSON ({e})")))?;
    let ptype = text(&st, &["predicateType"])?;
    if ptype != PREDICATE_TYPE {
        return Err(bad(format!(
            "predicate type {ptype:?}, expected {PREDICATE_TYPE}"
        )));
    }
    let subjects = field(&st, &["subject"])?
        .as_array()
        .filter(|s| s.len() == 1)
        .ok_or_else(|| bad("a model-signing statement has exactly one subject"))?;
    let name = text(&subjects[0], &["name"])?.to_string();
    let root = unhex(text(&subjects[0], &["digest", "sha256"])?)
        .ok_or_else(|| bad("the subject's sha256 is not 64 hex digits"))?;
    let method = text(&st, &["predicate", "serialization", "method"])?;
    let hash = text(&st, &["predicate", "serialization", "hash_type"])?;
    if method != "files" || hash != "sha256" {
        return Err(bad(format!(
            "serialization {method}/{hash}: mreg verifies whole files hashed with sha256"
        )));
    }
    let mut files = BTreeMap::new();
    for r in field(&st, &["predicate", "resources"])?
        .as_array()
        .ok_or_else(|| bad("resources is not a list"))?
    {
        let name = text(r, &["name"])?;
        if text(r, &["algorithm"])? != "sha256" {
            return Err(bad(format!("{name}: not a sha256 digest")));
        }
        let d = unhex(text(r, &["digest"])?)
            .ok_or_else(|| bad(format!("{name}: the digest is not 64 hex digits")))?;
        if files.insert(name.to_string(), d).is_some() {
            return Err(bad(format!("{name} is listed twice")));
        }
    }
    let m = Manifest { name, files };
    if m.root_digest() != root {
        return Err(bad(
            "the subject's digest does not match its resources (an edited manifest)",
        ));
    }
    Ok(m)
}

/// SHA-256 of a file's bytes as they stream in.
#[derive(Default)]
pub struct FileHasher(Sha256);

impl FileHasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    pub fn finish(self) -> Sha {
        self.0.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Result<PrivateKey> {
        // A fixed test key (SEC1 PEM, as `openssl ecparam -genkey` writes it).
        let secret =
            p256::SecretKey::from_slice(&[7u8; 32]).map_err(|e| bad_key("test", e.to_string()))?;
        let pem = secret
            .to_sec1_pem(LineEnding::LF)
            .map_err(|e| bad_key("test", e.to_string()))?;
        PrivateKey::from_pem(&pem, "test")
    }

    fn manifest() -> Manifest {
        Manifest {
            name: "clf".into(),
            files: [
                ("a.txt".to_string(), [1u8; 32]),
                ("sub/w.bin".to_string(), [2u8; 32]),
            ]
            .into(),
        }
    }

    #[test]
    fn a_bundle_verifies_with_its_key_and_returns_the_manifest() -> Result<()> {
        let k = key()?;
        let b = sign(&manifest(), &k);
        assert_eq!(verify(&b, &k.public())?, manifest());
        assert_eq!(bundle_hint(&b), Some(k.public().hint()));
        Ok(())
    }

    #[test]
    fn another_key_an_edited_payload_or_signature_is_refused() -> Result<()> {
        let k = key()?;
        let b = sign(&manifest(), &k);
        let other = PrivateKey(p256::ecdsa::SigningKey::from(
            p256::SecretKey::from_slice(&[9u8; 32]).map_err(|e| bad_key("t", e.to_string()))?,
        ));
        assert!(matches!(
            verify(&b, &other.public()),
            Err(crate::Error::Trust(TrustError::WrongKey { .. }))
        ));
        // Without the hint, the signature itself fails.
        let mut v: Value = serde_json::from_str(&b).map_err(|e| bad(e.to_string()))?;
        v["verificationMaterial"]["publicKey"]["hint"] = json!("");
        let nohint = v.to_string();
        assert!(matches!(
            verify(&nohint, &other.public()),
            Err(crate::Error::Trust(TrustError::BadSignature))
        ));
        // A payload changed after signing.
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = b64
            .decode(v["dsseEnvelope"]["payload"].as_str().unwrap_or(""))
            .map_err(|e| bad(e.to_string()))?;
        let edited = String::from_utf8_lossy(&payload).replace("a.txt", "b.txt");
        v["dsseEnvelope"]["payload"] = json!(b64.encode(edited));
        assert!(matches!(
            verify(&v.to_string(), &k.public()),
            Err(crate::Error::Trust(TrustError::BadSignature))
        ));
        for junk in ["", "{}", "[1]", "{\"mediaType\": 3}"] {
            assert!(verify(junk, &k.public()).is_err(), "{junk}");
        }
        Ok(())
    }

    #[test]
    fn differences_name_missing_extra_and_changed_files() {
        let m = manifest();
        let mut actual = m.files.clone();
        actual.insert("a.txt".into(), [9u8; 32]);
        actual.remove("sub/w.bin");
        actual.insert("new.bin".into(), [3u8; 32]);
        let d = m.differences(&actual);
        assert_eq!(d.changed, vec!["a.txt"]);
        assert_eq!(d.missing, vec!["sub/w.bin"]);
        assert_eq!(d.extra, vec!["new.bin"]);
        assert!(m.differences(&m.files).is_empty());
    }

    #[test]
    fn keys_in_the_wrong_form_get_a_clear_error() {
        for pem in [
            "",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nxx\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        ] {
            assert!(PrivateKey::from_pem(pem, "k.pem").is_err());
        }
        assert!(PublicKey::from_pem("-----BEGIN EC PRIVATE KEY-----", "k.pem").is_err());
        assert!(PublicKey::from_pem("garbage", "k.pem").is_err());
    }
}
