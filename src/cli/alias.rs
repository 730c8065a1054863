//! `mreg alias`: movable per-model pointers.

use mreg::history::MoveInfo;
use mreg::refs::{self, Expect};
use mreg::ModelName;

use super::{Ctx, Output};

/// Set, remove or list aliases (movable per-model pointers such as production, candidate).
///
/// Every move is recorded in the model's history (who, when, why).
///
/// Examples:
///   mreg alias set mnist candidate mnist -m "best val acc so far"
///   mreg alias set mnist production 3fa2c1 --expect 77b0e2     # compare-and-swap
///   mreg alias list mnist
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Point MODEL@ALIAS at REV.
    Set {
        model: String,
        alias: String,
        rev: String,
        /// Only move if the alias points at OLD now (a revision, or `none` for "unset").
        #[arg(long, value_name = "OLD")]
        expect: Option<String>,
        /// Why (recorded in the history).
        #[arg(short, long, default_value = "")]
        message: String,
        /// Let `production` take a version whose pickles would run code no allowlist
        /// vouches for (`show` lists them); recorded in the history.
        #[arg(long)]
        allow_unsafe: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove MODEL@ALIAS.
    Rm {
        model: String,
        alias: String,
        #[arg(short, long, default_value = "")]
        message: String,
    },
    /// List aliases (of one model, or all).
    List {
        model: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub fn move_info(message: String) -> mreg::Result<MoveInfo> {
    Ok(MoveInfo {
        time: super::now()?,
        author: super::author(),
        message,
    })
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    match a.cmd {
        Cmd::Set {
            model,
            alias,
            rev,
            expect,
            message,
            allow_unsafe,
            json,
        } => {
            let model = ModelName::new(&model)?;
            let alias = mreg::names::AliasName::new(&alias)?;
            let target = repo.resolve(&rev)?;
            let expect = Expect::resolve(&repo, expect.as_deref())?;
            let m = refs::alias_set_with(
                &repo,
                &model,
                &alias,
                target,
                expect,
                move_info(message)?,
                allow_unsafe,
            )?;
            if json {
                return Ok(Output::ok(super::json(&m)));
            }
            Ok(Output::ok(if m.moved {
                format!("{model}@{alias} -> {}\n", target.short())
            } else {
                format!("{model}@{alias} already points at {}\n", target.short())
            }))
        }
        Cmd::Rm {
            model,
            alias,
            message,
        } => {
            let model = ModelName::new(&model)?;
            let alias = mreg::names::AliasName::new(&alias)?;
            refs::alias_rm(&repo, &model, &alias, None, move_info(message)?)?;
            Ok(Output::ok(format!("removed {model}@{alias}\n")))
        }
        Cmd::List { model, json } => {
            let model = model.as_deref().map(ModelName::new).transpose()?;
            let rows = refs::aliases(&repo, model.as_ref())?;
            if json {
                return Ok(Output::ok(super::json(&rows)));
            }
            Ok(Output::ok(
                rows.iter()
                    .map(|r| format!("{}@{:<14} {}\n", r.model, r.name.alias, r.id.short()))
                    .collect(),
            ))
        }
    }
}
