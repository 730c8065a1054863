//! `mreg sign`, `mreg signature` and `mreg verify`: signatures in the OpenSSF
//! model-signing format.

use std::path::PathBuf;

use mreg::trust::{self, PrivateKey, PublicKey};

use super::alias::move_info;
use super::{Ctx, Output};

/// Sign a version with your EC key (OpenSSF model-signing format, v1.0).
///
/// The SHA-256 of each of the version's files is computed from its verified bytes and
/// signed as `model_signing sign key` signs a model directory (an in-toto statement in a
/// DSSE envelope, in a Sigstore bundle). The bundle is stored with the version (who, when,
/// which key): `show` lists it, push and pull carry it, `mreg signature` writes it out for
/// `model_signing verify`. mreg reads the key and never writes or stores it.
///
/// Make a key pair (P-256) with openssl:
///   openssl ecparam -name prime256v1 -genkey -noout -out key.pem
///   openssl ec -in key.pem -pubout -out pub.pem
///
/// Examples:
///   mreg sign clf@candidate --key key.pem -m "reviewed by the safety team"
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct SignArgs {
    rev: String,
    /// The private key (PEM: `EC PRIVATE KEY` or PKCS#8, P-256, unencrypted).
    #[arg(long, value_name = "KEY.pem")]
    key: PathBuf,
    /// Why (recorded with the signature).
    #[arg(short, long, default_value = "")]
    message: String,
    #[arg(long)]
    json: bool,
}

/// Write a version's stored signature bundle, for `model_signing verify`.
///
/// On a checkout of that version the reference tool verifies it:
///   mreg checkout clf@production --to model/
///   mreg signature clf@production -o model.sig
///   model_signing verify key --public_key pub.pem --signature model.sig model/
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct SignatureArgs {
    rev: String,
    /// Where to write the bundle (default: stdout).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The signature made with this public key (default: the newest).
    #[arg(long, value_name = "PUB.pem")]
    key: Option<PathBuf>,
}

/// Verify a version's signature against its files.
///
/// With --signature, the given bundle (e.g. from `model_signing sign key` over a checkout
/// of the version); without, the signatures stored with the version. Either way the
/// SHA-256 of every file is recomputed from the version's bytes: tampered bytes, another
/// key, or a bundle for other files are refused, with the reason. --key defaults to the
/// keys the model's policy trusts.
///
/// Examples:
///   mreg verify clf@production --key pub.pem
///   mreg verify clf@production --key pub.pem --signature model.sig
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct VerifyArgs {
    rev: String,
    /// The public key (PEM), repeatable; default the model's trusted keys.
    #[arg(long, value_name = "PUB.pem")]
    key: Vec<PathBuf>,
    /// A bundle file to verify instead of the stored signatures.
    #[arg(long, value_name = "FILE")]
    signature: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub fn public_keys(ctx: &Ctx, paths: &[PathBuf]) -> mreg::Result<Vec<PublicKey>> {
    let full: Vec<PathBuf> = paths.iter().map(|p| ctx.cwd.join(p)).collect();
    trust::read_public_keys(&full)
}

pub fn sign(ctx: &Ctx, a: SignArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let id = repo.resolve(&a.rev)?;
    let key = PrivateKey::from_pem(
        &trust::read_key_file(&ctx.cwd.join(&a.key))?,
        &a.key.display().to_string(),
    )?;
    let signed = trust::sign(&repo, &id, &key, move_info(a.message)?)?;
    if a.json {
        return Ok(Output::ok(super::json(&signed)));
    }
    Ok(Output::ok(format!(
        "signed {} with key {} (signature {})\n",
        id.short(),
        &signed.key_hint[..12],
        signed.note.short()
    )))
}

pub fn signature(ctx: &Ctx, a: SignatureArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let id = repo.resolve(&a.rev)?;
    let keys = public_keys(ctx, a.key.as_slice())?;
    let n = trust::stored_bundle(&repo, &id, &keys)?;
    match a.output {
        Some(path) => {
            let full = ctx.cwd.join(&path);
            std::fs::write(&full, &n.bundle).map_err(|e| mreg::Error::io("writing", &full, e))?;
            ctx.note(format_args!(
                "wrote the signature of {} by {} (key {}) to {}",
                id.short(),
                n.signer,
                &n.key_hint[..12.min(n.key_hint.len())],
                path.display()
            ));
            Ok(Output::ok(String::new()))
        }
        None => Ok(Output::ok(format!("{}\n", n.bundle))),
    }
}

pub fn verify(ctx: &Ctx, a: VerifyArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let id = repo.resolve(&a.rev)?;
    let keys = public_keys(ctx, &a.key)?;
    let bundle = match &a.signature {
        Some(path) => {
            let full = ctx.cwd.join(path);
            Some(std::fs::read_to_string(&full).map_err(|e| mreg::Error::io("reading", &full, e))?)
        }
        None => None,
    };
    let v = trust::verify(&repo, &id, keys, bundle.as_deref())?;
    if a.json {
        return Ok(Output::ok(super::json(&v)));
    }
    Ok(Output::ok(format!(
        "verified {}: {} file(s) signed by key {}{}\n",
        id.short(),
        v.files,
        &v.key_hint[..12],
        v.note
            .map(|n| format!(" (signature {})", n.short()))
            .unwrap_or_default()
    )))
}
