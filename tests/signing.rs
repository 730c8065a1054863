//! Signed versions (OpenSSF model-signing format): sign, show, verify, refusals (tampered
//! bundle, another key, a bundle for other files, bad key files), the signature policy on
//! promote, `alias set production` and `checkout --verify`, and signatures and trusted keys
//! travelling through a remote. Interoperability with the reference tool
//! (`model_signing`) is tested in python/tests/test_signing.py.

use p256::pkcs8::{EncodePublicKey, LineEnding};

use crate::common::*;

/// Write a P-256 key pair (fixed seed: the tests are deterministic) as `NAME.pem` (SEC1,
/// as `openssl ecparam -genkey` writes it) and `NAME.pub.pem`.
fn key_pair(r: &TestRepo, name: &str, seed: u8) {
    let secret = p256::SecretKey::from_slice(&[seed; 32]).unwrap();
    r.write(
        &format!("{name}.pem"),
        secret.to_sec1_pem(LineEnding::LF).unwrap().as_bytes(),
    );
    r.write(
        &format!("{name}.pub.pem"),
        secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
            .as_bytes(),
    );
}

fn signed_store() -> (TestRepo, Vec<String>) {
    let r = TestRepo::new();
    let ids = versions(&r, 3);
    key_pair(&r, "alice", 7);
    key_pair(&r, "mallory", 9);
    (r, ids)
}

#[test]
fn a_signed_version_verifies_and_tampering_another_key_or_other_files_are_refused() {
    let (r, ids) = signed_store();
    let out = r
        .mreg(&[
            "sign",
            &ids[1],
            "--key",
            "alice.pem",
            "-m",
            "reviewed",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(out["format"], "oms-v1.0-key");
    let shown = r.mreg(&["show", &ids[1], "--json"]).ok().json();
    let sigs = shown["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0]["key_hint"], out["key_hint"]);
    assert_eq!(sigs[0]["message"], "reviewed");
    assert!(r
        .mreg(&["show", &ids[1]])
        .ok()
        .stdout
        .contains("Signatures"));

    let v = r
        .mreg(&["verify", &ids[1], "--key", "alice.pub.pem", "--json"])
        .ok()
        .json();
    assert_eq!(v["files"], 1);
    // The stored bundle, written out, verifies as a given bundle too.
    r.mreg(&["signature", &ids[1], "-o", "v1.sig"]).ok();
    r.mreg(&[
        "verify",
        &ids[1],
        "--key",
        "alice.pub.pem",
        "--signature",
        "v1.sig",
    ])
    .ok();

    // Another key: refused, saying so.
    let e = r
        .mreg(&["verify", &ids[1], "--key", "mallory.pub.pem"])
        .fails();
    assert!(e.stderr.contains("not a trusted key"), "{}", e.stderr);
    let e = r
        .mreg(&[
            "verify",
            &ids[1],
            "--key",
            "mallory.pub.pem",
            "--signature",
            "v1.sig",
        ])
        .fails();
    assert!(e.stderr.contains("another key"), "{}", e.stderr);
    // A bundle for other files (another version's): refused, naming the file.
    let e = r
        .mreg(&[
            "verify",
            &ids[2],
            "--key",
            "alice.pub.pem",
            "--signature",
            "v1.sig",
        ])
        .fails();
    assert!(e.stderr.contains("changed: w.bin"), "{}", e.stderr);
    // A tampered bundle: its payload edited after signing.
    let text = String::from_utf8(r.read("v1.sig")).unwrap();
    let mut b: serde_json::Value = serde_json::from_str(&text).unwrap();
    let payload = b["dsseEnvelope"]["payload"].as_str().unwrap().to_string();
    let mut chars: Vec<char> = payload.chars().collect();
    chars[40] = if chars[40] == 'A' { 'B' } else { 'A' };
    b["dsseEnvelope"]["payload"] = serde_json::json!(chars.into_iter().collect::<String>());
    r.write("tampered.sig", b.to_string().as_bytes());
    let e = r
        .mreg(&[
            "verify",
            &ids[1],
            "--key",
            "alice.pub.pem",
            "--signature",
            "tampered.sig",
        ])
        .fails();
    assert!(e.stderr.contains("does not verify"), "{}", e.stderr);
    // Unsigned: said so.
    let e = r
        .mreg(&["verify", &ids[0], "--key", "alice.pub.pem"])
        .fails();
    assert!(e.stderr.contains("has no signature"), "{}", e.stderr);
    // Tampered bytes in the store: the read is refused, so is the verification.
    let manifest = manifest_of(&r, &ids[1]);
    let path = object_path(&r, &manifest);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let e = r
        .mreg(&["verify", &ids[1], "--key", "alice.pub.pem"])
        .fails();
    assert!(!e.stderr.contains("verified"), "{}", e.stderr);
}

#[test]
fn bad_key_files_get_a_clear_error_and_change_nothing() {
    let (r, ids) = signed_store();
    r.write("garbage.pem", b"not a key");
    r.write(
        "enc.pem",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let before = r.snapshot();
    for (args, says) in [
        (
            vec!["sign", &ids[0], "--key", "garbage.pem"],
            "not a PEM private key",
        ),
        (
            vec!["sign", &ids[0], "--key", "alice.pub.pem"],
            "not a PEM private key",
        ),
        (vec!["sign", &ids[0], "--key", "enc.pem"], "encrypted"),
        (
            vec!["sign", &ids[0], "--key", "missing.pem"],
            "cannot be read",
        ),
        (
            vec!["verify", &ids[0], "--key", "alice.pem"],
            "is a private key",
        ),
        (
            vec!["policy", "m", "--require-signature", "garbage.pem"],
            "not a P-256 public key",
        ),
    ] {
        let e = r.mreg(&args).fails();
        assert!(e.stderr.contains(says), "{args:?}: {}", e.stderr);
        assert!(e.stderr.contains("hint:"), "{}", e.stderr);
        assert!(!e.stderr.contains("panicked"));
    }
    assert_eq!(r.snapshot(), before);
}

#[test]
fn a_model_that_trusts_a_key_takes_into_production_only_what_it_signed() {
    let (r, ids) = signed_store();
    r.mreg(&[
        "policy",
        "m",
        "--require-signature",
        "alice.pub.pem",
        "-m",
        "signed only",
    ])
    .ok();
    let p = r.mreg(&["policy", "m", "--json"]).ok().json();
    assert_eq!(p["trusted_keys"].as_array().unwrap().len(), 1);
    // Unsigned: refused by promote and by alias set production; nothing moves.
    let e = r.mreg(&["promote", "m", &ids[2]]).fails();
    assert!(e.stderr.contains("has no signature"), "{}", e.stderr);
    r.mreg(&["alias", "set", "m", "production", &ids[2]])
        .fails();
    r.mreg(&["show", "m@production"]).fails();
    // Signed by a key the model does not trust: refused too.
    r.mreg(&["sign", &ids[2], "--key", "mallory.pem"]).ok();
    let e = r.mreg(&["promote", "m", &ids[2]]).fails();
    assert!(e.stderr.contains("not a trusted key"), "{}", e.stderr);
    let shown = r.mreg(&["show", &ids[2], "--json"]).ok().json();
    assert_eq!(shown["signatures"][0]["trusted"], false);
    // Another alias is not production: allowed.
    r.mreg(&["alias", "set", "m", "staging", &ids[2]]).ok();
    // checkout --verify writes nothing for it.
    let e = r
        .mreg(&["checkout", &ids[2], "--to", "out", "--verify"])
        .fails();
    assert!(e.stderr.contains("trusted key"), "{}", e.stderr);
    assert!(!r.path().join("out").exists());
    // Signed by alice: promoted, and checked out with --verify.
    r.mreg(&["sign", &ids[2], "--key", "alice.pem"]).ok();
    r.mreg(&["promote", "m", &ids[2], "-m", "signed"]).ok();
    // The dashboard's version page lists both signatures, the trusted one marked.
    let repo = mreg::Repo::discover(r.path()).unwrap();
    let page = mreg::web::handle(&repo, "GET", &format!("/version/{}", ids[2]));
    let page = String::from_utf8_lossy(&page.body);
    assert!(
        page.contains("trusted key") && page.contains("untrusted key"),
        "{page}"
    );
    r.mreg(&["checkout", &ids[2], "--to", "out", "--verify"])
        .ok();
    assert!(r.path().join("out/w.bin").is_file());
    // Another key given on the command line replaces the model's.
    r.mreg(&[
        "checkout",
        &ids[2],
        "--to",
        "out2",
        "--verify",
        "--key",
        "mallory.pub.pem",
    ])
    .ok();
    // No key trusted any more: no signature required.
    r.mreg(&["policy", "m", "--no-signature-required"]).ok();
    r.mreg(&["promote", "m", &ids[1]]).ok();
    let e = r
        .mreg(&["checkout", &ids[1], "--to", "out3", "--verify"])
        .fails();
    assert!(e.stderr.contains("trusts no key"), "{}", e.stderr);
}

#[test]
fn signatures_and_trusted_keys_travel_through_a_remote() {
    let (a, ids) = signed_store();
    let remote = tempfile::tempdir().unwrap();
    let url = remote.path().display().to_string();
    a.mreg(&["policy", "m", "--require-signature", "alice.pub.pem"])
        .ok();
    a.mreg(&["sign", &ids[1], "--key", "alice.pem"]).ok();
    a.mreg(&["remote", "add", "origin", &url]).ok();
    a.mreg(&["push"]).ok();
    let b = TestRepo::bare();
    b.mreg(&["clone", &url, ".", "--data"]).ok();
    std::fs::copy(
        a.path().join("alice.pub.pem"),
        b.path().join("alice.pub.pem"),
    )
    .unwrap();
    // The clone has the signature and trusts the same key: it verifies and enforces.
    let shown = b.mreg(&["show", &ids[1], "--json"]).ok().json();
    assert_eq!(shown["signatures"][0]["trusted"], true);
    b.mreg(&["verify", &ids[1]]).ok();
    b.mreg(&["promote", "m", &ids[2]]).fails();
    b.mreg(&["promote", "m", &ids[1]]).ok();
}
