//! `mreg describe`: a model's description and labels.

use mreg::refs::settings::{self, SettingsChange};
use mreg::ModelName;

use super::{Ctx, Output};

/// Show or set what a model is: a description and labels on the model itself (not on a
/// version: `mreg label` labels versions).
///
/// Like the promotion policy, they are part of the model's history (who, when, why): push
/// and pull carry them to every store, and `mreg models` shows them.
///
/// Examples:
///   mreg describe fraud "Card-fraud scorer; owner: risk-ml"
///   mreg describe fraud --label tabular --label pii
///   mreg describe fraud --unlabel pii
///   mreg describe fraud --clear
///   mreg describe fraud --json
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    model: String,
    /// The description (replaces the current one).
    #[arg(conflicts_with = "clear")]
    description: Option<String>,
    /// Remove the description.
    #[arg(long)]
    clear: bool,
    /// Add a label to the model; repeatable.
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,
    /// Remove a label from the model; repeatable.
    #[arg(long = "unlabel", value_name = "LABEL")]
    unlabels: Vec<String>,
    /// Why (recorded in the history).
    #[arg(short, long, default_value = "")]
    message: String,
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let model = ModelName::new(&a.model)?;
    let change = SettingsChange {
        description: if a.clear {
            Some(None)
        } else {
            a.description.map(Some)
        },
        add_labels: a.labels,
        remove_labels: a.unlabels,
    };
    let d = settings::describe(&repo, &model, &change, super::alias::move_info(a.message)?)?;
    if a.json {
        return Ok(Output::ok(super::json(&d)));
    }
    let now = d.settings;
    let mut s = format!(
        "{model}: {}\n",
        now.description.as_deref().unwrap_or("(no description)")
    );
    if !now.labels.is_empty() {
        s.push_str(&format!(
            "labels: {}\n",
            now.labels.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(Output::ok(s))
}
