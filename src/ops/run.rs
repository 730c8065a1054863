//! `mreg run`: run any training command, then commit its outputs with the command line,
//! params, metrics, datasets, environment and git lineage, so that `reproduce` can run it
//! again from the recorded code.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::commit::Environment;
use crate::error::{Error, Result};
use crate::history::MoveInfo;
use crate::names::ModelName;
use crate::ops::commit::{commit, CommitOutcome, CommitRequest};
use crate::ops::Progress;
use crate::recipe::{Recipe, RunRecipe};
use crate::repo::Repo;

/// The dataset name under which a run's params file is stored (so it can be restored).
pub const PARAMS_DATASET: &str = "mreg-params-file";

/// Which stream of the command a piece of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutStream {
    Stdout,
    Stderr,
}

/// Where the command's output goes while it runs (besides the stored log): the CLI shows
/// it live.
pub type OutputSink = Box<dyn Fn(OutStream, &[u8]) + Send + Sync>;

/// Most of a log stored: the first and the last parts of a longer output.
pub(crate) const LOG_HEAD: usize = 1 << 20;
pub(crate) const LOG_TAIL: usize = 15 << 20;

pub struct RunRequest {
    pub model: ModelName,
    pub command: Vec<String>,
    /// Where the command runs; relative paths below are relative to it.
    pub cwd: PathBuf,
    pub outputs: Vec<PathBuf>,
    pub metrics_file: Option<PathBuf>,
    /// A per-step metrics file (JSON lines, or CSV/TSV with a step column): curves.
    pub metrics_history: Option<PathBuf>,
    pub params_file: Option<PathBuf>,
    /// (name, path) of input data, stored so `reproduce` can restore it.
    pub datasets: Vec<(String, PathBuf)>,
    pub message: String,
    pub author: String,
    pub created_at: crate::Timestamp,
    pub environment: Environment,
    pub aliases: Vec<crate::names::AliasName>,
    /// `--param K=V` values (a mapping), merged over the params file's.
    pub param_overrides: serde_json::Value,
    pub labels: Vec<String>,
    /// Receives the command's output as it comes (None: only stored).
    pub on_output: Option<OutputSink>,
    /// Store the untracked files that `replay_risks` finds in the code patch, so that a
    /// replay has them.
    pub include_untracked: bool,
}

/// Something that would make `reproduce` of this run fail, found before it runs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReplayRisk {
    /// Work-tree-relative path of a file git does not track.
    pub path: String,
    /// Why it matters: the command names it, or it sits beside the script.
    pub why: String,
}

/// Files a replay from the recorded code would lack: untracked files the command names,
/// and untracked files of the same kind beside a script it names (a module it imports).
/// The run's own outputs and metrics files are not risks.
pub fn replay_risks(req: &RunRequest) -> Result<Vec<ReplayRisk>> {
    let cwd = std::fs::canonicalize(&req.cwd).map_err(|e| Error::io("resolving", &req.cwd, e))?;
    let produced: Vec<PathBuf> = req
        .outputs
        .iter()
        .chain(&req.metrics_file)
        .chain(&req.metrics_history)
        .map(|p| crate::repo::normalize(&cwd.join(p)))
        .collect();
    let named: Vec<PathBuf> = req
        .command
        .iter()
        .map(|a| cwd.join(a))
        .filter(|p| p.is_file() && !produced.iter().any(|o| p.starts_with(o)))
        .collect();
    let mut risks: Vec<ReplayRisk> = crate::git::untracked(&cwd, &named)?
        .into_iter()
        .map(|path| ReplayRisk {
            path,
            why: "the command names it".into(),
        })
        .collect();
    let mut beside = Vec::new();
    for script in &named {
        let (Some(dir), Some(ext)) = (script.parent(), script.extension()) else {
            continue;
        };
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                let p = crate::repo::normalize(&p);
                if p.extension() == Some(ext)
                    && !named.contains(&p)
                    && !produced.iter().any(|o| p.starts_with(o))
                {
                    beside.push(p);
                }
            }
        }
    }
    beside.sort();
    for path in crate::git::untracked(&cwd, &beside)? {
        if !risks.iter().any(|r| r.path == path) {
            risks.push(ReplayRisk {
                path,
                why: "it sits beside the script (a module it may import)".into(),
            });
        }
    }
    Ok(risks)
}

/// A committed run: the commit, and what was noticed on the way.
pub struct RunOutcome {
    pub commit: CommitOutcome,
    /// Values of the metrics file that are kept as recorded information, not metrics.
    pub warnings: Vec<String>,
    pub resources: crate::recipe::RunResources,
    pub log_bytes: u64,
}

/// The output of a command, kept in memory up to a bound: its head and its tail.
#[derive(Default)]
struct LogBuffer {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    total: u64,
}

impl LogBuffer {
    fn push(&mut self, b: &[u8]) {
        self.total += b.len() as u64;
        let room = LOG_HEAD.saturating_sub(self.head.len());
        let (h, t) = b.split_at(room.min(b.len()));
        self.head.extend_from_slice(h);
        self.tail.extend(t);
        let over = self.tail.len().saturating_sub(LOG_TAIL);
        self.tail.drain(..over);
    }

    /// The stored log and whether it was cut.
    fn finish(self) -> (Vec<u8>, bool) {
        let tail: Vec<u8> = self.tail.into_iter().collect();
        log_bytes(&self.head, &tail, self.total)
    }
}

/// A log as stored: its head, a marker saying how much was left out (when anything was),
/// and its tail; and whether it was cut.
pub(crate) fn log_bytes(head: &[u8], tail: &[u8], total: u64) -> (Vec<u8>, bool) {
    let kept = (head.len() + tail.len()) as u64;
    let mut out = head.to_vec();
    let truncated = kept < total;
    if truncated {
        out.extend_from_slice(
            format!("\n[mreg: {} bytes of output not kept here]\n", total - kept).as_bytes(),
        );
    }
    out.extend_from_slice(tail);
    (out, truncated)
}

/// Run `program`, copying its stdout and stderr into `log` (and to `sink`), and wait for it
/// with `wait4`, which reports the resources of the process and its waited-for
/// descendants (not mreg's own).
fn run_logged(
    program: &str,
    args: &[String],
    cwd: &Path,
    sink: Option<&OutputSink>,
) -> Result<(
    std::process::ExitStatus,
    LogBuffer,
    crate::recipe::RunResources,
)> {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let start = Instant::now();
    let mut child = std::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("running", PathBuf::from(program), e))?;
    let log = std::sync::Mutex::new(LogBuffer::default());
    let sampler =
        crate::sysinfo::JobSampler::start(child.id(), std::time::Duration::from_millis(200));
    let pid = child.id() as libc::pid_t;
    JOB_PID.store(pid, std::sync::atomic::Ordering::SeqCst);
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    let (status, rusage) = std::thread::scope(|s| {
        let pump = |mut r: Box<dyn Read + Send>, which: OutStream| {
            let log = &log;
            s.spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                // The log takes whole lines, so that the two streams never mix within a
                // line; the sink gets bytes as they come (progress bars stay live).
                let mut partial: Vec<u8> = Vec::new();
                loop {
                    match r.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if let Some(f) = sink {
                                f(which, &buf[..n]);
                            }
                            partial.extend_from_slice(&buf[..n]);
                            let cut = match partial.iter().rposition(|&b| b == b'\n') {
                                Some(i) => i + 1,
                                None if partial.len() > 64 * 1024 => partial.len(),
                                None => continue,
                            };
                            log.lock().expect("not poisoned").push(&partial[..cut]);
                            partial.drain(..cut);
                        }
                    }
                }
                if !partial.is_empty() {
                    log.lock().expect("not poisoned").push(&partial);
                }
            })
        };
        let a = pump(Box::new(out), OutStream::Stdout);
        let b = pump(Box::new(err), OutStream::Stderr);
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = loop {
            // SAFETY: pid is our child, status and ru point to live locals.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            }
            break r;
        };
        JOB_PID.store(0, std::sync::atomic::Ordering::SeqCst);
        let _ = a.join();
        let _ = b.join();
        if r == -1 {
            return Err(Error::io(
                "waiting for",
                PathBuf::from(program),
                std::io::Error::last_os_error(),
            ));
        }
        Ok((std::process::ExitStatus::from_raw(status), ru))
    })?;
    let wall_seconds = start.elapsed().as_secs_f64();
    let (peak_threads, gpu) = sampler.finish();
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let resources = crate::recipe::RunResources {
        wall_seconds,
        cpu_seconds: secs(rusage.ru_utime) + secs(rusage.ru_stime),
        // Linux reports kilobytes.
        peak_rss_bytes: rusage.ru_maxrss.max(0) as u64 * 1024,
        peak_threads,
        gpu: Some(gpu),
    };
    Ok((status, log.into_inner().expect("not poisoned"), resources))
}

/// Merge `over` into `base`, key by key (nested mappings merge; other values replace).
fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// The root paths of a run are recorded against: the git work tree, else the store's.
pub fn run_root(repo: &Repo) -> PathBuf {
    crate::git::work_tree_root(repo.root())
        .and_then(|r| std::fs::canonicalize(&r).ok())
        .unwrap_or_else(|| repo.root().to_path_buf())
}

pub(crate) fn rel_to(root: &Path, p: &Path) -> Result<String> {
    let abs = crate::repo::normalize(p);
    let rel = abs.strip_prefix(root).map_err(|_| Error::InvalidPath {
        path: p.display().to_string(),
        why: format!("is outside {}", root.display()),
    })?;
    Ok(rel.to_string_lossy().replace('\\', "/"))
}

pub use crate::error::RunError;

/// The signal that asked mreg to stop while a job ran (0: none).
static STOP_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// The running job's pid (0: none), for the handler to pass SIGTERM and SIGHUP on.
static JOB_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn note_stop(sig: libc::c_int) {
    STOP_SIGNAL.store(sig, std::sync::atomic::Ordering::SeqCst);
    // Ctrl-C reaches the whole foreground process group, the job included; SIGTERM and
    // SIGHUP sent to mreg alone (a scheduler stopping the job) are passed on.
    let pid = JOB_PID.load(std::sync::atomic::Ordering::SeqCst);
    if sig != libc::SIGINT && pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// While a job runs, Ctrl-C (SIGINT), SIGTERM and SIGHUP reach the job (its process group
/// gets them from the terminal, or it is told below) and mreg outlives it, so that the run
/// is recorded as interrupted. Handlers are reset to the default in the job by `exec`;
/// dropping the guard restores mreg's previous ones.
struct StopGuard {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

impl StopGuard {
    fn install() -> StopGuard {
        STOP_SIGNAL.store(0, std::sync::atomic::Ordering::SeqCst);
        let mut previous = Vec::new();
        for sig in STOP_SIGNALS {
            // SAFETY: a zeroed sigaction is valid; the handler only stores to an atomic,
            // which is async-signal-safe.
            unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = note_stop as *const () as libc::sighandler_t;
                libc::sigemptyset(&mut act.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &act, &mut old) == 0 {
                    previous.push((sig, old));
                }
            }
        }
        StopGuard { previous }
    }

    /// The signal received, if any.
    fn received() -> Option<libc::c_int> {
        match STOP_SIGNAL.load(std::sync::atomic::Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        for (sig, old) in &self.previous {
            // SAFETY: restoring the action read by `install`.
            unsafe {
                libc::sigaction(*sig, old, std::ptr::null_mut());
            }
        }
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "SIGINT (Ctrl-C)".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGPIPE => "SIGPIPE".into(),
        n => format!("signal {n}"),
    }
}

fn short(hex: &str) -> String {
    hex[..12.min(hex.len())].to_string()
}

fn is_glob(p: &Path) -> bool {
    p.to_string_lossy().contains(['*', '?', '['])
}

/// Check an output path's glob syntax before the job runs.
fn check_glob(p: &Path) -> Result<()> {
    if is_glob(p) {
        glob::Pattern::new(&p.to_string_lossy()).map_err(|e| RunError::BadGlob {
            pattern: p.display().to_string(),
            why: e.to_string(),
        })?;
    }
    Ok(())
}

/// The paths an output names after the job ran: itself, or what its glob matches (an error
/// when it matches nothing).
fn expand_output(cwd: &Path, p: &Path) -> Result<Vec<PathBuf>> {
    if !is_glob(p) {
        return Ok(vec![p.to_path_buf()]);
    }
    let pattern = cwd.join(p);
    let mut out = Vec::new();
    for m in glob::glob(&pattern.to_string_lossy()).map_err(|e| RunError::BadGlob {
        pattern: p.display().to_string(),
        why: e.to_string(),
    })? {
        let m = m.map_err(|e| {
            let path = e.path().to_path_buf();
            Error::io("listing", path, e.into())
        })?;
        out.push(m.strip_prefix(cwd).map(Path::to_path_buf).unwrap_or(m));
    }
    if out.is_empty() {
        return Err(RunError::BadGlob {
            pattern: p.display().to_string(),
            why: "matched nothing after the job ran".into(),
        }
        .into());
    }
    out.sort();
    Ok(out)
}

/// Run the command, keeping its output as the run's log (and passing it to `on_output`),
/// then commit. A run that ends without a version — the job failed, was killed or
/// interrupted, or its outputs could not be committed — is recorded (`runs`), and the
/// error names the record.
pub fn run(repo: &Repo, req: RunRequest, progress: &dyn Progress) -> Result<RunOutcome> {
    let Some((program, args)) = req.command.split_first() else {
        return Err(RunError::NoCommand.into());
    };
    if req.outputs.is_empty() {
        return Err(RunError::NoOutputs.into());
    }
    let root = run_root(repo);
    let cwd = std::fs::canonicalize(&req.cwd).map_err(|e| Error::io("resolving", &req.cwd, e))?;
    let cwd_rel = rel_to(&root, &cwd)?;
    let include_untracked = if req.include_untracked {
        replay_risks(&req)?.into_iter().map(|r| r.path).collect()
    } else {
        Vec::new()
    };
    // Everything the commit will record is checked before the job starts (issue 24): a
    // typo in a label, a dataset named twice, a path outside the repository would
    // otherwise be found after hours of training.
    crate::ops::commit::check_names(
        repo,
        &req.model,
        &req.labels,
        req.datasets
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(req.params_file.as_ref().map(|_| PARAMS_DATASET)),
    )?;
    for p in req
        .outputs
        .iter()
        .chain(&req.metrics_file)
        .chain(&req.metrics_history)
        .chain(&req.params_file)
        .chain(req.datasets.iter().map(|(_, p)| p))
    {
        rel_to(&root, &cwd.join(p))?;
        check_glob(p)?;
    }
    // Visible on the dashboard while it runs (a store that cannot take the live record
    // still runs the job: the record is a view, the version is what counts).
    let history_file = req
        .metrics_history
        .as_ref()
        .filter(|p| !is_glob(p))
        .map(|p| cwd.join(p));
    let live = crate::ops::live::begin(
        repo,
        &req.model,
        &req.command,
        &req.author,
        history_file.as_deref(),
    );
    let live_warning = live
        .as_ref()
        .err()
        .map(|e| format!("not shown live on the dashboard: {e}"));
    let end_live = |status, version, run: Option<crate::ObjectId>, reason: &str| {
        if let Ok(l) = live {
            // Best effort, as its beginning: the outcome itself is already recorded.
            let _ = l.end(crate::ops::live::LiveEnd {
                at: crate::Timestamp::now(),
                status,
                version,
                run,
                reason: reason.to_string(),
            });
        }
    };
    // The environment the job runs in, read before it runs.
    let python = crate::sysinfo::python_env(program, &cwd);
    let started_at = crate::Timestamp::now();
    let (status, log, resources, stopped_by) = {
        let _stop = StopGuard::install();
        let (status, log, resources) = run_logged(program, args, &cwd, req.on_output.as_ref())?;
        (status, log, resources, StopGuard::received())
    };
    let seconds = resources.wall_seconds;
    let (log_bytes, log_truncated) = (log.total, log.total > (LOG_HEAD + LOG_TAIL) as u64);
    let (log_data, _) = log.finish();
    let log_ref = {
        let _store = repo.lock_store_shared()?;
        let put = repo.objects().put(crate::object::Kind::Blob, &log_data)?;
        repo.objects().flush()?;
        crate::recipe::RunLog {
            blob: put.id,
            bytes: log_bytes,
            truncated: log_truncated,
        }
    };
    let failed_recipe = || RunRecipe {
        command: req.command.clone(),
        cwd: cwd_rel.clone(),
        outputs: req
            .outputs
            .iter()
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .collect(),
        metrics_file: None,
        params_file: None,
        datasets: Default::default(),
        seconds,
        system: crate::sysinfo::system_info(resources.peak_threads.unwrap_or(1)),
        log: Some(log_ref.clone()),
        resources: Some(resources.clone()),
        recorded: Default::default(),
        python: python.clone(),
        curves: None,
    };
    let keep = |status: crate::ops::runs::RunStatus,
                reason: String,
                exit: (Option<i32>, Option<i32>)|
     -> Result<crate::ObjectId> {
        let record = crate::ops::runs::RunRecord {
            kind: crate::ops::runs::RUN.into(),
            model: req.model.clone(),
            status,
            exit_code: exit.0,
            signal: exit.1,
            reason: reason.clone(),
            author: req.author.clone(),
            started_at: started_at.clone(),
            message: req.message.clone(),
            params: req.param_overrides.clone(),
            labels: req.labels.clone(),
            recipe: failed_recipe(),
        };
        let info = MoveInfo {
            time: crate::Timestamp::now(),
            author: req.author.clone(),
            message: format!("run {}: {reason}", status.as_str()),
        };
        crate::ops::runs::record_failed(repo, &record, info)
    };
    if !status.success() || stopped_by.is_some() {
        use std::os::unix::process::ExitStatusExt;
        let sig = status.signal();
        let interrupted = stopped_by.is_some() || sig.is_some_and(|s| STOP_SIGNALS.contains(&s));
        let reason = match (status.code(), sig, stopped_by) {
            (_, _, Some(s)) if status.success() => {
                format!("mreg got {} while the job ran", signal_name(s))
            }
            (Some(c), _, _) => format!("exit code {c}"),
            (None, Some(s), _) => format!("killed by {}", signal_name(s)),
            _ => status.to_string(),
        };
        let (st, kind) = if interrupted {
            (crate::ops::runs::RunStatus::Interrupted, true)
        } else {
            (crate::ops::runs::RunStatus::Failed, false)
        };
        let record = keep(st, reason.clone(), (status.code(), sig))?;
        end_live(st, None, Some(record), &reason);
        let run = short(&record.to_hex());
        return Err(if kind {
            RunError::Interrupted {
                status: reason,
                run,
            }
        } else {
            RunError::CommandFailed {
                status: reason,
                run,
            }
        }
        .into());
    }
    let committed = commit_run(
        repo,
        &req,
        &root,
        &cwd,
        cwd_rel.clone(),
        (
            seconds,
            resources.clone(),
            python.clone(),
            log_ref.clone(),
            log_bytes,
        ),
        include_untracked,
        progress,
    );
    match committed {
        Ok(mut o) => {
            end_live(
                crate::ops::runs::RunStatus::Succeeded,
                Some(o.commit.id),
                None,
                "",
            );
            o.warnings.extend(live_warning);
            Ok(o)
        }
        Err(e) => {
            let why = e.to_string();
            let st = crate::ops::runs::RunStatus::Uncommitted;
            let record = keep(st, why.clone(), (Some(0), None))?;
            end_live(st, None, Some(record), &why);
            let run = short(&record.to_hex());
            Err(RunError::NotCommitted { why, run }.into())
        }
    }
}

/// Commit what a successful job produced, with its recipe.
#[allow(clippy::too_many_arguments)]
fn commit_run(
    repo: &Repo,
    req: &RunRequest,
    root: &Path,
    cwd: &Path,
    cwd_rel: String,
    (seconds, resources, python, log_ref, log_bytes): (
        f64,
        crate::recipe::RunResources,
        Option<crate::recipe::PythonEnv>,
        crate::recipe::RunLog,
        u64,
    ),
    include_untracked: Vec<String>,
    progress: &dyn Progress,
) -> Result<RunOutcome> {
    let mut outputs = Vec::new();
    for p in &req.outputs {
        outputs.extend(expand_output(cwd, p)?);
    }
    let abs = |p: &Path| cwd.join(p);
    let mut params = serde_json::json!({});
    let mut datasets = req.datasets.clone();
    let params_file = match &req.params_file {
        Some(p) => {
            params = crate::datafile::read_structured("params file", &abs(p))?;
            datasets.push((PARAMS_DATASET.to_string(), abs(p)));
            Some(rel_to(root, &abs(p))?)
        }
        None => None,
    };
    merge(&mut params, &req.param_overrides);
    // After the run, nothing in the metrics file may lose it: what is not a number is kept
    // as recorded information, and an unreadable file is a warning.
    let run_metrics = match &req.metrics_file {
        Some(p) => match crate::datafile::read_run_metrics(&abs(p)) {
            Ok(m) => m,
            Err(e) => crate::datafile::RunMetrics {
                warnings: vec![format!("{e}: committed without metrics")],
                ..Default::default()
            },
        },
        None => Default::default(),
    };
    let mut warnings = run_metrics.warnings.clone();
    // Curves: the history file, and DVCLive's per-step plots beside its metrics.json.
    let mut curves = crate::datafile::Curves::new();
    let mut sources = Vec::new();
    if let Some(h) = &req.metrics_history {
        sources.push(("metrics history", crate::datafile::read_history(&abs(h))));
    }
    if let Some(m) = &req.metrics_file {
        sources.push((
            "DVCLive plots",
            crate::datafile::read_dvclive_plots(&abs(m)),
        ));
    }
    for (what, r) in sources {
        match r {
            Ok((c, w)) => {
                warnings.extend(w.into_iter().map(|w| format!("{what}: {w}")));
                curves.extend(c);
            }
            Err(e) => warnings.push(format!("{e}: committed without these curves")),
        }
    }
    let curves_ref = store_curves(repo, &curves)?;
    let recipe = RunRecipe {
        command: req.command.clone(),
        cwd: cwd_rel,
        outputs: outputs
            .iter()
            .map(|p| rel_to(root, &abs(p)))
            .collect::<Result<_>>()?,
        metrics_file: req
            .metrics_file
            .as_ref()
            .map(|p| rel_to(root, &abs(p)))
            .transpose()?,
        params_file,
        datasets: datasets
            .iter()
            .map(|(n, p)| Ok((n.clone(), rel_to(root, &abs(p))?)))
            .collect::<Result<_>>()?,
        seconds,
        system: crate::sysinfo::system_info(resources.peak_threads.unwrap_or(1)),
        log: Some(log_ref),
        resources: Some(resources.clone()),
        recorded: run_metrics.recorded.clone(),
        python,
        curves: curves_ref,
    };
    let outcome = commit(
        repo,
        CommitRequest {
            message: req.message.clone(),
            created_at: req.created_at.clone(),
            params,
            metrics: run_metrics.metrics.clone(),
            labels: req.labels.clone(),
            include_untracked,
            datasets: datasets.into_iter().map(|(n, p)| (n, abs(&p))).collect(),
            store_datasets: true,
            environment: req.environment.clone(),
            aliases: req.aliases.clone(),
            recipe: Some(Recipe::Run(Box::new(recipe))),
            ..CommitRequest::new(
                req.model.clone(),
                &req.author,
                cwd.to_path_buf(),
                outputs.iter().map(|p| abs(p)).collect(),
            )
        },
        progress,
    )?;
    Ok(RunOutcome {
        commit: outcome,
        warnings,
        resources,
        log_bytes,
    })
}

/// Store a run's curves (every point, as a JSON blob) and summarize them for the recipe.
pub(crate) fn store_curves(
    repo: &Repo,
    curves: &crate::datafile::Curves,
) -> Result<Option<crate::recipe::RunCurves>> {
    if curves.is_empty() {
        return Ok(None);
    }
    let bytes = serde_json::to_vec(curves).expect("curves serialize");
    let _store = repo.lock_store_shared()?;
    let put = repo.objects().put(crate::object::Kind::Blob, &bytes)?;
    Ok(Some(crate::recipe::RunCurves {
        blob: put.id,
        summary: curves
            .iter()
            .map(|(k, v)| (k.clone(), crate::recipe::CurveSummary::of(k, v)))
            .collect(),
    }))
}
