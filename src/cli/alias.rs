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
            json,
        } => {
            let model = ModelName::new(&model)?;
            let alias = mreg::names::AliasName::new(&alias)?;
            let target = repo.resolve(&rev)?;
            let expect = Expect::resolve(&repo, expect.as_deref())?;
            let e = refs::alias_set(&repo, &model, &alias, target, expect, move_info(message)?)?;
            if json {
                return Ok(Output::ok(super::json(&serde_json::json!({
                    "model": model, "alias": alias, "id": target, "moved": e.is_some(),
                }))));
            }
            Ok(Output::ok(match e {
                Some(_) => format!("{model}@{alias} -> {}\n", target.short()),
                None => format!("{model}@{alias} already points at {}\n", target.short()),
            }))
        }
        Cmd::Rm {
            model,
            alias,
            message,
        } => {
            let model = ModelName::new(&model)?;
            let alias = mreg::names::AliasName::new(&alias)?;
            refs::alias_rm(&repo, &model, &alias, move_info(message)?)?;
            Ok(Output::ok(format!("removed {model}@{alias}\n")))
        }
        Cmd::List { model, json } => {
            let models = match model {
                Some(m) => {
                    let m = ModelName::new(&m)?;
                    if !repo.model_exists(&m) {
                        return Err(mreg::Error::UnknownModel(m.to_string()));
                    }
                    vec![m]
                }
                None => repo.models()?,
            };
            let mut rows = Vec::new();
            for m in models {
                for (alias, id) in repo.model_state(&m)?.aliases {
                    rows.push((m.clone(), alias, id));
                }
            }
            if json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(m, a, id)| serde_json::json!({"model": m, "alias": a, "id": id}))
                    .collect();
                return Ok(Output::ok(super::json(&v)));
            }
            Ok(Output::ok(
                rows.iter()
                    .map(|(m, a, id)| format!("{m}@{a:<14} {}\n", id.short()))
                    .collect(),
            ))
        }
    }
}
