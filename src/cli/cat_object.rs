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
                0 => return Err(Error::MissingObject { id: a.id }),
                _ => {
                    return Err(Error::AmbiguousRevision {
                        prefix: a.id,
                        candidates: c.iter().map(|c| c.short()).collect(),
                    })
                }
            }
        }
        None => {
            return Err(Error::InvalidArgument(format!(
                "{:?} is not a hex object id",
                a.id
            )))
        }
    };
    let (kind, data) = repo.objects().get(&id)?;
    if a.kind_only {
        return Ok(Output::ok(format!("{} {}\n", kind.name(), data.len())));
    }
    // Raw bytes, not UTF-8 text: write directly.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&data).and_then(|_| out.flush());
    Ok(Output::ok(String::new()))
}
