//! `mreg reproduce`: make a commit again and prove whether it came out the same.

use mreg::reproduce::{self, Verdict};

use super::alias::move_info;
use super::{fmt, Ctx, Output};

/// Re-make a commit from its recipe and compare: identical bytes, or what differs and why.
///
/// A commit made by `mreg train` is retrained from the recorded config, the dataset stored
/// in the commit and the seed; the weights are compared by blake3. A commit made by
/// `mreg run` is re-run in a temporary directory holding the recorded git commit's code
/// with the uncommitted changes (the stored patch) applied and the datasets and params file
/// restored; outputs are compared by blake3, then metrics within --tolerance.
///
/// Verdicts: identical (same bytes), within_tolerance (bytes differ, every metric within
/// the tolerance), different (with metric deltas and the environment drift that may explain
/// it). The verdict is recorded as a note on the commit (see `mreg show`).
/// Exit code: 0 identical or within tolerance, 3 different, 1 error, 2 usage error.
///
/// Examples:
///   mreg reproduce iris@production
///   mreg reproduce 3fa2c1 --tolerance 0.01 --json
///   mreg reproduce iris --set seed=7          # what-if: expect `different`
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    rev: String,
    /// Relative tolerance for metrics when the bytes differ: |Δ| <= T * max(1, |recorded|).
    #[arg(long, default_value_t = 0.0)]
    tolerance: f64,
    /// What-if: change a recorded config key before retraining (train commits); repeatable.
    #[arg(long = "set", value_name = "K=V")]
    set: Vec<String>,
    /// Do not record the verdict as a note.
    #[arg(long)]
    no_record: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let id = repo.resolve(&a.rev)?;
    let quiet = ctx.quiet;
    let mut on_epoch = |e: &mreg::recipe::EpochRecord| {
        if !quiet {
            eprintln!(
                "retrain epoch {:>3}  train_loss {:.4}  val_loss {:.4}",
                e.epoch, e.train_loss, e.val_loss
            );
        }
    };
    let r = reproduce::reproduce(&repo, &id, a.tolerance, &a.set, &mut on_epoch)?;
    if !a.no_record {
        reproduce::record(&repo, &r, move_info(format!("verdict: {}", r.verdict))?)?;
    }
    let code = if r.verdict == Verdict::Different {
        super::EXIT_DIFFERENT
    } else {
        0
    };
    if a.json {
        return Ok(Output {
            stdout: super::json(&r),
            code,
        });
    }
    let mut s = format!(
        "{} {}: {} ({} recipe, {:.1} s)\n",
        repo.read_commit(&id)?.model,
        id.short(),
        r.verdict,
        r.recipe,
        r.seconds
    );
    for f in &r.files {
        let now = f
            .reproduced
            .map(|h| h.short())
            .unwrap_or_else(|| "(not produced)".into());
        let same = if f.reproduced == Some(f.recorded) {
            "same"
        } else {
            "DIFFERENT"
        };
        s.push_str(&format!(
            "  {}  recorded {}  reproduced {now}  {same}\n",
            f.path,
            f.recorded.short()
        ));
    }
    let changed: Vec<_> = r
        .metrics
        .iter()
        .filter(|(_, m)| m.delta != Some(0.0))
        .collect();
    if !changed.is_empty() {
        s.push_str("  metrics (recorded -> reproduced):\n");
        for (k, m) in changed {
            s.push_str(&format!(
                "    {k}: {} -> {}{}\n",
                fmt::num(m.recorded),
                m.reproduced
                    .map(fmt::num)
                    .unwrap_or_else(|| "(missing)".into()),
                m.delta
                    .map(|d| format!("  (Δ {d:+.6})"))
                    .unwrap_or_default()
            ));
        }
    }
    if !r.drift.is_empty() {
        s.push_str("  environment drift (then -> now):\n");
        for (what, then, now) in &r.drift {
            s.push_str(&format!("    {what}: {then} -> {now}\n"));
        }
    }
    Ok(Output { stdout: s, code })
}
