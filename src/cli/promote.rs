//! `mreg promote` and `mreg rollback`.

use mreg::refs;
use mreg::ModelName;

use super::alias::move_info;
use super::{Ctx, Output};

/// Make a version production; the previous production becomes `rollback`.
///
/// REV defaults to MODEL@candidate. Both aliases move in one atomic step, recorded in the
/// model's history with -m's reason. An archived version cannot be promoted; nor can one
/// whose pickles would run code no allowlist vouches for (without --allow-unsafe), nor,
/// when the model trusts signing keys (`policy --require-signature`), one without a valid
/// signature by one of them.
///
/// --expect makes it a compare-and-swap: it moves only if production is still REV (or,
/// with `none`, unset), so of two people promoting at once, exactly one wins and the
/// other is told what production is now. Through a remote the same holds at push.
///
/// Examples:
///   mreg promote mnist -m "beats prod by 1.2 points on holdout"
///   mreg promote mnist mnist~1
///   mreg promote mnist mnist~1 --expect mnist@production   # as seen on the dashboard
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct PromoteArgs {
    model: String,
    /// The version to promote (default: MODEL@candidate).
    rev: Option<String>,
    /// Move only if production is this revision now (`none`: only if unset).
    #[arg(long, value_name = "REV")]
    expect: Option<String>,
    /// Why (recorded in the history).
    #[arg(short, long, default_value = "")]
    message: String,
    /// Promote even though its pickles would run code no allowlist vouches for (`show`
    /// lists them); the findings are recorded in the history with the move.
    #[arg(long)]
    allow_unsafe: bool,
    #[arg(long)]
    json: bool,
}

/// Put `rollback` back into production (and the demoted version into `rollback`).
///
/// No --force needed; running it twice swaps back. Recorded in the model's history.
/// --expect REV moves only if production is still REV (compare-and-swap).
#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    model: String,
    /// Move only if production is this revision now.
    #[arg(long, value_name = "REV")]
    expect: Option<String>,
    /// Why (recorded in the history).
    #[arg(short, long, default_value = "")]
    message: String,
    #[arg(long)]
    json: bool,
}

fn report(model: &ModelName, p: &refs::Promotion, json: bool) -> Output {
    if json {
        return Output::ok(super::json(p));
    }
    Output::ok(match (&p.entry, p.previous) {
        (None, _) => format!("{model}@production is already {}\n", p.production.short()),
        (Some(_), Some(prev)) => format!(
            "{model}@production -> {} (rollback -> {})\n",
            p.production.short(),
            prev.short()
        ),
        (Some(_), None) => format!("{model}@production -> {}\n", p.production.short()),
    })
}

pub fn promote(ctx: &Ctx, a: PromoteArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let model = ModelName::new(&a.model)?;
    let rev = a.rev.map(|r| repo.resolve(&r)).transpose()?;
    let expect = refs::Expect::resolve(&repo, a.expect.as_deref())?;
    let p = refs::promote_with(
        &repo,
        &model,
        rev,
        expect,
        move_info(a.message)?,
        a.allow_unsafe,
    )?;
    Ok(report(&model, &p, a.json))
}

pub fn rollback(ctx: &Ctx, a: RollbackArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let model = ModelName::new(&a.model)?;
    let expect = refs::Expect::resolve(&repo, a.expect.as_deref())?;
    let p = refs::rollback(&repo, &model, expect, move_info(a.message)?)?;
    Ok(report(&model, &p, a.json))
}
