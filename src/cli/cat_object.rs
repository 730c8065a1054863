//! `mreg cat-object`: plumbing, print an object's decoded content.

use std::io::Write;

use mreg::{Error, ObjectId};

use super::{Ctx, Output};

/// Print an object's decoded content (plumbing, for debugging).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Full object id, or a unique prefix of 4+ hex digits.
    id: String,

    /// Print only the object's kind and size.
    #[arg(short = 't', long = "type")]
    kind_only: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let id = match ObjectId::from_hex(&a.id) {
        Some(id) => id,
        None if mreg::id::is_hex_prefix(&a.id) => {
            let c = repo.objects().find_prefix(&a.id)?;
            match c.len() {
                1 => c[0],
                0 => return Err(not_found(&repo, &a.id)),
                _ => {
                    return Err(Error::AmbiguousRevision {
                        prefix: a.id,
                        candidates: c.iter().map(|c| c.short()).collect(),
                    })
                }
            }
        }
        None => {
            return Err(Error::BadValue {
                option: "cat-object",
                value: a.id,
                expected: "not a hex object id (an id is 4 to 64 hex digits)".into(),
            })
        }
    };
    if !repo.objects().exists(&id) {
        return Err(not_found(&repo, &id.to_hex()));
    }
    let (kind, data) = repo.objects().get(&id)?;
    if a.kind_only {
        return Ok(Output::ok(format!("{} {}\n", kind.name(), data.len())));
    }
    // Raw bytes, not UTF-8 text: write directly.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&data).and_then(|_| out.flush());
    Ok(Output::ok(String::new()))
}

/// No object has this id: say whether it is a file's id (a common mix-up), else missing.
fn not_found(repo: &mreg::Repo, id: &str) -> Error {
    match mreg::reach::find_file_id(repo, id) {
        Ok(Some((commit, f))) => Error::FileIdNotObject {
            id: id.to_string(),
            path: f.path,
            commit: commit.short(),
            manifest: f.manifest.to_hex(),
        },
        _ => Error::NoSuchObject { id: id.to_string() },
    }
}
