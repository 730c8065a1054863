//! `mreg tag`: immutable named pointers.

use mreg::refs;

use super::alias::move_info;
use super::{Ctx, Output};

/// Create, list or delete tags: immutable names for one version (`v1.0`, `paper-2026`).
///
/// A tag never moves: creating an existing tag is refused. Deleting is recorded in history.
///
/// Examples:
///   mreg tag v1.0 mnist@production -m "first release"
///   mreg tag --list
///   mreg tag -d v1.0
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Tag name.
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// Revision to tag (required when creating).
    rev: Option<String>,
    /// List tags.
    #[arg(short, long, conflicts_with_all = ["delete", "rev"])]
    list: bool,
    /// Delete the tag NAME.
    #[arg(short, long, conflicts_with = "rev")]
    delete: bool,
    /// Why (recorded in the history).
    #[arg(short, long, default_value = "")]
    message: String,
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    if a.list {
        let tags = refs::tags(&repo)?;
        if a.json {
            return Ok(Output::ok(super::json(&tags)));
        }
        return Ok(Output::ok(
            tags.iter()
                .map(|t| format!("{:<20} {}@{}\n", t.name.tag, t.model, t.id.short()))
                .collect(),
        ));
    }
    let name = a.name.expect("clap requires NAME unless --list");
    if a.delete {
        refs::tag_delete(&repo, &name, move_info(a.message)?)?;
        return Ok(Output::ok(format!("deleted tag {name}\n")));
    }
    let rev = a.rev.ok_or_else(|| {
        mreg::Error::InvalidArgument(format!(
            "mreg tag {name}: which revision? (mreg tag {name} REV)"
        ))
    })?;
    let tag = mreg::names::TagName::new(&name)?;
    let id = repo.resolve(&rev)?;
    refs::tag_create(&repo, &tag, id, move_info(a.message)?)?;
    Ok(Output::ok(if a.json {
        super::json(&serde_json::json!({"tag": name, "id": id}))
    } else {
        format!("tagged {} as {name}\n", id.short())
    }))
}
