//! The one door to a model's refs: `Repo::transact`. Every move — a local command's, or a
//! line replayed from a remote — runs as a transaction on the model's history under its
//! lock, and is checked against the rules every move obeys (`refs::rules`) before its
//! history line is written. Nothing else writes a history line.

use crate::error::{Error, Result};
use crate::names::ModelName;
use crate::repo::Repo;

impl Repo {
    /// Change a model's refs: the one door. Takes the store lock (shared: gc cannot run)
    /// and the model's lock, runs `f` on a transaction, and writes one history line with
    /// what it changed (nothing when `f` fails or changes nothing). Returns `f`'s result and
    /// the line written.
    pub(crate) fn transact<T>(
        &self,
        model: &ModelName,
        info: crate::history::MoveInfo,
        action: crate::history::Action,
        f: impl FnOnce(&mut crate::history::Transaction) -> Result<T>,
    ) -> Result<(T, Option<crate::history::LogEntry>)> {
        let _store = self.lock_store_shared()?;
        self.transact_holding_store_lock(model, info, action, f)
    }

    /// `transact` for a caller that already holds the store lock (shared by a commit that
    /// stored objects, exclusive by gc's `prune`).
    pub(crate) fn transact_holding_store_lock<T>(
        &self,
        model: &ModelName,
        info: crate::history::MoveInfo,
        action: crate::history::Action,
        f: impl FnOnce(&mut crate::history::Transaction) -> Result<T>,
    ) -> Result<(T, Option<crate::history::LogEntry>)> {
        let mut out = None;
        let entry = self.model_log(model).update(info, action, |t| {
            let before = t.state().clone();
            out = Some(f(t)?);
            // The one door: every move, local or replayed from a remote, obeys the rules.
            crate::rules::check_move(model, &before, t.state(), t.extra(), &|id| {
                self.read_commit(id).ok().map(|c| c.model)
            })
            .map_err(|why| Error::BrokenRule {
                model: model.clone(),
                why,
            })
        })?;
        Ok((out.expect("the transaction ran and succeeded"), entry))
    }
}
