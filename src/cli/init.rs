//! `mreg init`: create a store.

use mreg::Repo;

use super::{Ctx, Output};

/// Create an empty store (.modelreg/) in the current directory.
///
/// With --store PATH, the store is created at exactly PATH.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = match &ctx.store {
        Some(s) => Repo::init_at(&ctx.cwd.join(s))?,
        None => Repo::init(&ctx.cwd)?,
    };
    Ok(Output::ok(if a.json {
        super::json(&serde_json::json!({
            "store": repo.store_dir(),
            "root": repo.root(),
            "format_version": mreg::repo::FORMAT_VERSION,
        }))
    } else {
        format!(
            "Initialized empty mreg store in {}\n",
            repo.store_dir().display()
        )
    }))
}
