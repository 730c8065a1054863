//! What the methods of `mreg._native` share: errors to exceptions, the GIL released around
//! library work, JSON in and out, the move info and commit requests built from Python's
//! arguments, progress callbacks, and the sampler of a `repo.run()` block.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use mreg::history::MoveInfo;
use mreg::names::AliasName;
use mreg::{Error, ModelName, Repo};
use pyo3::prelude::*;

/// Raise the `mreg.errors` class for this error.
pub(crate) fn py_err(py: Python<'_>, e: Error) -> PyErr {
    let made = py.import("mreg.errors").and_then(|m| {
        m.getattr("_from_native")?.call1((
            e.category().as_str(),
            e.code(),
            mreg::client::error_text(&e),
            e.hint(),
        ))
    });
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// Run library work with the GIL released, mapping its error.
pub(crate) fn call<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> mreg::Result<T> + Send,
) -> PyResult<T> {
    py.detach(f).map_err(|e| py_err(py, e))
}

pub(crate) fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("results serialize")
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> mreg::Result<T> {
    serde_json::from_str(s).map_err(|e| Error::InvalidArgument(format!("{what}: {e}")))
}

/// This process's environment, as the library takes it (`mreg::client`): the Python
/// package, like the command line, is where mreg reads its variables.
pub(crate) fn env() -> mreg::client::Environment {
    mreg::client::Environment::from_os(std::env::vars_os())
}

/// Who, when and why of a move made now: `who`, else as the CLI (`client::move_info`).
pub(crate) fn move_info(message: String, who: Option<String>) -> mreg::Result<MoveInfo> {
    let cwd = std::env::current_dir().unwrap_or_default();
    mreg::client::move_info(&env(), message, who.as_deref(), &cwd)
}

pub(crate) fn metrics(what: &str, s: &str) -> mreg::Result<BTreeMap<String, f64>> {
    let m: BTreeMap<String, f64> = parse_json(what, s)?;
    if let Some((k, v)) = m.iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "{what}: {k} = {v} is not a finite number"
        )));
    }
    Ok(m)
}

/// Progress reports to a Python callable `(phase, done_bytes, total_bytes)`, at most about
/// a hundred per phase.
pub(crate) struct PyProgress {
    callback: Option<Py<PyAny>>,
    what: Mutex<String>,
    total: AtomicU64,
    done: AtomicU64,
    reported: AtomicU64,
}

impl PyProgress {
    pub(crate) fn new(callback: Option<Py<PyAny>>) -> Self {
        PyProgress {
            callback,
            what: Mutex::new(String::new()),
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            reported: AtomicU64::new(0),
        }
    }

    fn report(&self) {
        let Some(cb) = &self.callback else { return };
        let what = self.what.lock().map(|w| w.clone()).unwrap_or_default();
        let (done, total) = (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        );
        Python::attach(|py| {
            if let Err(e) = cb.call1(py, (what, done, total)) {
                // A failing callback must not fail the store operation half-way.
                e.write_unraisable(py, None);
            }
        });
    }
}

impl mreg::ops::Progress for PyProgress {
    fn start(&self, what: &str, total: u64) {
        if let Ok(mut w) = self.what.lock() {
            *w = what.to_string();
        }
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.reported.store(0, Ordering::Relaxed);
        self.report();
    }

    fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        let step = (self.total.load(Ordering::Relaxed) / 100).max(1);
        let last = self.reported.load(Ordering::Relaxed);
        if done >= last + step
            && self
                .reported
                .compare_exchange(last, done, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.report();
        }
    }

    fn finish(&self) {
        self.done
            .store(self.total.load(Ordering::Relaxed), Ordering::Relaxed);
        self.report();
    }
}

/// A commit request from the Python side (paths relative to `cwd`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn commit_request(
    repo: &Repo,
    paths: Vec<PathBuf>,
    model: &str,
    message: String,
    params: &str,
    metrics_json: &str,
    datasets: Vec<(String, PathBuf)>,
    labels: Vec<String>,
    aliases: Vec<String>,
    derived_from: Vec<String>,
    cwd: Option<PathBuf>,
    who: Option<String>,
    store_datasets: bool,
) -> mreg::Result<mreg::CommitRequest> {
    let cwd = match cwd {
        Some(c) => c,
        None => std::env::current_dir().map_err(|e| Error::io("reading", ".", e))?,
    };
    let params: serde_json::Value = parse_json("params", params)?;
    if !params.is_object() {
        return Err(Error::InvalidArgument(
            "params must be a mapping (a dict)".into(),
        ));
    }
    Ok(mreg::CommitRequest {
        message,
        created_at: mreg::client::now(&env())?,
        params,
        metrics: metrics("metrics", metrics_json)?,
        datasets,
        store_datasets,
        labels,
        environment: mreg::commit::Environment::current(),
        aliases: aliases
            .iter()
            .map(|a| AliasName::new(a))
            .collect::<Result<_, _>>()?,
        derived_from: repo.resolve_all(&derived_from)?,
        ..mreg::CommitRequest::new(
            ModelName::new(model)?,
            &mreg::client::author(&env(), who.as_deref(), &cwd),
            cwd,
            paths,
        )
    })
}

/// The live record of a `repo.run()` block (`mreg::ops::live`): what the dashboard shows
/// while it trains. Points are appended as the block logs them; `end` says how it ended.
#[pyclass(module = "mreg._native")]
pub(crate) struct LiveRun {
    inner: Mutex<Option<mreg::ops::live::Live>>,
}

impl LiveRun {
    pub(crate) fn new(live: mreg::ops::live::Live) -> Self {
        LiveRun {
            inner: Mutex::new(Some(live)),
        }
    }
}

#[pymethods]
impl LiveRun {
    /// Append `(name, step, value)` points (`None`: not a finite number).
    fn append(&self, py: Python<'_>, points: Vec<(String, f64, Option<f64>)>) -> PyResult<()> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(live) => live.append(&points).map_err(|e| py_err(py, e)),
            None => Ok(()),
        }
    }

    /// Say how the block ended: `status` is succeeded, failed, interrupted or uncommitted;
    /// `version` the commit it became, `run` the run record kept instead.
    #[pyo3(signature = (status, version=None, run=None, reason=String::new()))]
    fn end(
        &self,
        py: Python<'_>,
        status: String,
        version: Option<String>,
        run: Option<String>,
        reason: String,
    ) -> PyResult<()> {
        let Some(live) = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        let parse = || -> mreg::Result<mreg::ops::live::LiveEnd> {
            let status: mreg::ops::runs::RunStatus = serde_json::from_value(
                serde_json::Value::String(status.clone()),
            )
            .map_err(|_| Error::BadValue {
                option: "status",
                value: status.clone(),
                expected: "succeeded, failed, interrupted or uncommitted".into(),
            })?;
            Ok(mreg::ops::live::LiveEnd {
                at: mreg::Timestamp::now(),
                status,
                version: version
                    .as_deref()
                    .map(|v| hex_id("version", v))
                    .transpose()?
                    .map(mreg::CommitId::from),
                run: run.as_deref().map(|r| hex_id("run", r)).transpose()?,
                reason,
            })
        };
        parse()
            .and_then(|end| live.end(end))
            .map_err(|e| py_err(py, e))
    }
}

fn hex_id(what: &'static str, hex: &str) -> mreg::Result<mreg::ObjectId> {
    mreg::ObjectId::from_hex(hex).ok_or_else(|| Error::BadValue {
        option: what,
        value: hex.to_string(),
        expected: "a 64-digit hex id".into(),
    })
}

/// Samples this process (threads, GPUs through NVML) while a `repo.run()` block runs.
#[pyclass(module = "mreg._native")]
pub(crate) struct Watch {
    inner: Option<mreg::ops::inprocess::Watch>,
}

#[pymethods]
impl Watch {
    #[new]
    fn new() -> Self {
        Watch {
            inner: Some(mreg::ops::inprocess::Watch::start()),
        }
    }
}

impl Watch {
    /// Stop the sampler (if any) and return what it saw.
    pub(crate) fn take(
        w: Option<PyRefMut<'_, Watch>>,
    ) -> (Option<usize>, Option<mreg::recipe::GpuUsage>) {
        match w.and_then(|mut w| w.inner.take()) {
            Some(inner) => {
                let (threads, gpu) = inner.finish();
                (threads, Some(gpu))
            }
            None => (None, None),
        }
    }
}

/// A block's output as the Python side kept it: (head, tail, total bytes written).
pub(crate) fn captured(
    (head, tail, total): (Vec<u8>, Vec<u8>, u64),
) -> mreg::ops::inprocess::CapturedLog {
    mreg::ops::inprocess::CapturedLog { head, tail, total }
}
