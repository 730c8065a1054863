//! The action forms of `mreg ui --write` (see `web::actions`): promote, set an alias, label
//! and evaluate on the version page; roll back and remove aliases on the model page. Each
//! form is a plain POST (no script) carrying the token and, for moves, `expect`: the target
//! this page showed, so that a page left open cannot overwrite a newer move.

use super::*;

/// What the pages may offer.
#[derive(Clone, Copy, Debug)]
pub enum Access<'a> {
    /// `mreg ui` without `--write`: no forms.
    ReadOnly,
    /// `--write`, but this browser has not shown the token: say how to get the forms.
    NeedsToken,
    /// `--write` and the token: the forms, carrying it.
    Token(&'a str),
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        r#"<input type="hidden" name="{}" value="{}">"#,
        esc(name),
        esc(value)
    )
}

/// A form posting to `/api/models/MODEL/ACTION`.
fn form(model: &ModelName, action: &str, token: &str, fields: &str, button: &str) -> String {
    format!(
        r#"<form class="action" method="post" action="/api/models/{}/{}">{}{fields}<input type="text" name="message" placeholder="why (recorded in the history)" required><button type="submit">{}</button></form>"#,
        enc(model.as_str()),
        esc(action),
        hidden("token", token),
        esc(button)
    )
}

fn needs_token() -> String {
    r#"<h2>Decide</h2><p class="muted">This dashboard takes actions, but this browser has not shown its token: open the URL <code>mreg ui --write</code> printed (it ends in <code>?token=…</code>).</p>"#.into()
}

fn expect_of(id: Option<&CommitId>) -> String {
    id.map_or_else(|| "none".into(), |i| i.to_hex())
}

/// The version page's actions.
pub fn version_forms(
    repo: &Repo,
    model: &ModelName,
    id: &CommitId,
    access: Access,
) -> Result<String> {
    let token = match access {
        Access::ReadOnly => return Ok(String::new()),
        Access::NeedsToken => return Ok(needs_token()),
        Access::Token(t) => t,
    };
    let state = repo.model_log(model).state()?;
    let production = state.aliases.get(crate::refs::PRODUCTION);
    let rev = hidden("rev", &id.to_hex());
    let mut s = String::from(r#"<h2>Decide</h2><div class="decide">"#);
    let numbers = crate::versions::of_model(repo, model)?;
    let label = |id: &CommitId| {
        let n = numbers.iter().find(|(v, _)| v == id).and_then(|(_, n)| *n);
        format!("{} ({})", crate::versions::label(n), short(id))
    };
    let now = production.map_or_else(
        || "no version is production yet".to_string(),
        |p| format!("production is {} now", label(p)),
    );
    if production == Some(id) {
        let _ = write!(s, r#"<p class="muted">This version is production.</p>"#);
    } else {
        let _ = write!(
            s,
            r#"<details class="dialog" id="promote"><summary>Promote to production…</summary><p class="muted">{}{}. If someone moves production first, this is refused.</p>{}</details>"#,
            esc(&now),
            if production.is_some() {
                "; it becomes rollback"
            } else {
                ""
            },
            form(
                model,
                "promote",
                token,
                &(rev.clone() + &hidden("expect", &expect_of(production))),
                "Promote",
            )
        );
    }
    let _ = write!(
        s,
        r#"<details class="dialog" id="alias"><summary>Set an alias…</summary>{}</details>"#,
        form(
            model,
            "alias",
            token,
            &(rev.clone()
                + r#"<input type="text" class="rev" name="alias" placeholder="alias (staging, best…)" required>"#),
            "Set alias",
        )
    );
    let _ = write!(
        s,
        r#"<details class="dialog" id="label"><summary>Add a label…</summary>{}</details>"#,
        form(
            model,
            "label",
            token,
            &(rev.clone()
                + r#"<input type="text" class="rev" name="label" placeholder="label" required>"#),
            "Add label",
        )
    );
    let _ = write!(
        s,
        r#"<details class="dialog" id="eval"><summary>Add an evaluation…</summary>{}</details>"#,
        form(
            model,
            "eval",
            token,
            &(rev
                + r#"<input type="text" class="rev" name="dataset" placeholder="dataset" required><input type="text" class="rev" name="metrics" placeholder="acc=0.91, f1=0.88" required>"#),
            "Add evaluation",
        )
    );
    s.push_str("</div>");
    Ok(s)
}

/// The model page's actions: roll back, remove an alias.
pub fn model_forms(repo: &Repo, model: &ModelName, access: Access) -> Result<String> {
    let token = match access {
        Access::ReadOnly => return Ok(String::new()),
        Access::NeedsToken => return Ok(needs_token()),
        Access::Token(t) => t,
    };
    let state = repo.model_log(model).state()?;
    let mut s = String::from(r#"<h2>Decide</h2><div class="decide">"#);
    let production = state.aliases.get(crate::refs::PRODUCTION);
    if let (Some(p), Some(back)) = (production, state.aliases.get(crate::refs::ROLLBACK)) {
        let _ = write!(
            s,
            r#"<details class="dialog" id="rollback"><summary>Roll back production…</summary><p class="muted">production {} → {} (the version before the last promotion); refused if production moved since this page was drawn.</p>{}</details>"#,
            esc(&short(p)),
            esc(&short(back)),
            form(
                model,
                "rollback",
                token,
                &hidden("expect", &p.to_hex()),
                "Roll back"
            )
        );
    }
    let mut rows = Vec::new();
    for (alias, id) in &state.aliases {
        rows.push((
            vec![
                chip(alias.as_str(), alias.as_str()),
                version_link(&id.to_hex(), &short(id)),
                form(
                    model,
                    "alias",
                    token,
                    &(hidden("alias", alias.as_str())
                        + &hidden("remove", "1")
                        + &hidden("expect", &id.to_hex())),
                    "Remove",
                ),
            ],
            false,
        ));
    }
    if !rows.is_empty() {
        s.push_str(&table(&["alias", "version", ""], &rows, "aliases"));
    }
    s.push_str("</div>");
    Ok(s)
}
