//! Live runs: training in progress, visible before it ends.
//!
//! While `mreg run` or a Python `repo.run()` block trains, a *live record* in
//! `.modelreg/live/ID.json` says what runs (model, command, who, since when, which process
//! on which machine) and where its curves so far are: the job's `--metrics-history` file
//! for `mreg run`, or `ID.curves.jsonl`, which a Python block appends its `log_metric`
//! values to (JSON lines, the format `read_history` reads). When the run ends, the record
//! says how: the version it became, or the run record of a run that made none. The
//! dashboard's model page shows them ([`list`]), refreshed while they run.
//!
//! Live records are a view, not history: they are never pushed, never read by any command
//! that changes the store, and losing one loses nothing (the version or run record is what
//! counts). A record whose process is gone without ending it (mreg killed with -9) is shown
//! as `lost`; ended and lost records are swept an hour after their last change, when the
//! next live run begins.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::datafile::Curves;
use crate::error::{Error, Result};
use crate::id::{CommitId, ObjectId};
use crate::names::ModelName;
use crate::ops::runs::RunStatus;
use crate::repo::Repo;
use crate::Timestamp;

/// How long an ended run stays on the dashboard (its "became version N" line).
pub const SHOW_ENDED: Duration = Duration::from_secs(10 * 60);
/// Ended and lost records older than this are removed when the next live run begins.
pub const SWEEP_AFTER: Duration = Duration::from_secs(60 * 60);
/// The largest curves file read for the dashboard (a job writing more per run than this is
/// shown without curves, with a warning).
pub const MAX_CURVES_FILE: u64 = 32 << 20;

/// What a live record holds (`.modelreg/live/ID.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LiveRecord {
    pub id: String,
    pub model: ModelName,
    pub command: Vec<String>,
    pub author: String,
    pub started_at: Timestamp,
    /// The machine and process that runs it (a record of another machine, on a shared
    /// file system, cannot be checked and is shown as running).
    pub host: String,
    pub pid: u32,
    /// The process's start time in clock ticks since boot (Linux), so that a recycled pid
    /// is not taken for the run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// The per-step metrics file the run writes (absolute path), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<LiveEnd>,
}

/// How a live run ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LiveEnd {
    pub at: Timestamp,
    pub status: RunStatus,
    /// The version it became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<CommitId>,
    /// The run record kept when it made no version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<ObjectId>,
    /// Why it made no version, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Where a live run stands now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveState {
    Running,
    Ended,
    /// Its process is gone and it never said how it ended.
    Lost,
}

/// A live run as the dashboard shows it: the record, its state, and its curves so far.
#[derive(Clone, Debug, Serialize)]
pub struct LiveView {
    #[serde(flatten)]
    pub record: LiveRecord,
    pub state: LiveState,
    /// Seconds since it started (to its end, once ended).
    pub seconds: f64,
    pub curves: Curves,
    /// Why curves are missing or partial.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn live_dir(repo: &Repo) -> PathBuf {
    repo.store_dir().join("live")
}

/// The start time of a process (field 22 of `/proc/PID/stat`), where the system says.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that wrote a record of this machine still runs.
fn alive(record: &LiveRecord) -> bool {
    // SAFETY: kill with signal 0 sends nothing; it only checks that the pid exists.
    let exists = unsafe { libc::kill(record.pid as libc::pid_t, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists
        && match (record.pid_start, process_start(record.pid)) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

/// A live run being recorded. Dropping it without [`Live::end`] leaves the record as it
/// is: the dashboard shows it as lost once the process is gone.
#[derive(Debug)]
pub struct Live {
    dir: PathBuf,
    record: LiveRecord,
}

/// Begin a live record for a run of `model` (`history_file`: the metrics file the job
/// writes; `None` gives the run its own file for [`Live::append`]). Sweeps old records.
pub fn begin(
    repo: &Repo,
    model: &ModelName,
    command: &[String],
    author: &str,
    history_file: Option<&Path>,
) -> Result<Live> {
    let dir = live_dir(repo);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    sweep(&dir);
    let mut rnd = [0u8; 8];
    getrandom::fill(&mut rnd).map_err(|e| {
        Error::io(
            "reading",
            "random bytes",
            std::io::Error::other(e.to_string()),
        )
    })?;
    let pid = std::process::id();
    // Starts with the start time in nanoseconds (zero-padded): ids sort by start time.
    let id = format!(
        "{:020}-{}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
        rnd.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let history_file = match history_file {
        Some(p) => p.to_path_buf(),
        None => {
            let p = dir.join(format!("{id}.curves.jsonl"));
            std::fs::File::create(&p).map_err(|e| Error::io("creating", &p, e))?;
            p
        }
    };
    let live = Live {
        dir,
        record: LiveRecord {
            id,
            model: model.clone(),
            command: command.to_vec(),
            author: author.to_string(),
            started_at: Timestamp::now(),
            host: crate::sysinfo::hostname(),
            pid,
            pid_start: process_start(pid),
            history_file: Some(history_file),
            ended: None,
        },
    };
    live.write()?;
    Ok(live)
}

impl Live {
    pub fn id(&self) -> &str {
        &self.record.id
    }

    fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.record.id))
    }

    /// Replace the record atomically (a reader sees the old or the new one, whole).
    fn write(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.record).map_err(|e| Error::Encode {
            what: "a live record",
            source: Box::new(e),
        })?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)
            .map_err(|e| Error::io("creating a file in", &self.dir, e))?;
        tmp.write_all(&bytes)
            .map_err(|e| Error::io("writing", tmp.path().to_path_buf(), e))?;
        let path = self.path();
        tmp.persist(&path)
            .map_err(|e| Error::io("writing", &path, e.error))?;
        Ok(())
    }

    /// Append per-step values (`(name, step, value)`; `None` for a value that is not a
    /// finite number) to the run's own curves file, one JSON line per step.
    pub fn append(&self, points: &[(String, f64, Option<f64>)]) -> Result<()> {
        let Some(path) = &self.record.history_file else {
            return Ok(());
        };
        let mut text = String::new();
        for (name, step, value) in points {
            let v = match value {
                Some(v) if v.is_finite() => serde_json::Value::from(*v).to_string(),
                _ => "NaN".into(),
            };
            let name = serde_json::Value::from(name.as_str()).to_string();
            text.push_str(&format!("{{\"step\": {step}, {name}: {v}}}\n"));
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io("opening", path, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| Error::io("writing", path, e))
    }

    /// Say how the run ended; the dashboard then links the version or run record.
    pub fn end(mut self, end: LiveEnd) -> Result<()> {
        self.record.ended = Some(end);
        self.write()
    }
}

/// Remove ended and lost records (and their own curves files) older than [`SWEEP_AFTER`].
/// Failures are ignored: a record left behind costs nothing.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > SWEEP_AFTER);
        if !old {
            continue;
        }
        let Some(record) = read_record(&path) else {
            let _ = std::fs::remove_file(&path);
            continue;
        };
        if state_of(&record) == LiveState::Running {
            continue;
        }
        let _ = std::fs::remove_file(&path);
        let own = dir.join(format!("{}.curves.jsonl", record.id));
        let _ = std::fs::remove_file(own);
    }
}

fn read_record(path: &Path) -> Option<LiveRecord> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn state_of(record: &LiveRecord) -> LiveState {
    if record.ended.is_some() {
        LiveState::Ended
    } else if record.host != crate::sysinfo::hostname() || alive(record) {
        LiveState::Running
    } else {
        LiveState::Lost
    }
}

/// The curves a live run has written so far: its history file up to its last complete
/// line (the job may be writing the next one).
fn curves_so_far(record: &LiveRecord) -> (Curves, Vec<String>) {
    let Some(path) = &record.history_file else {
        return Default::default();
    };
    let not_yet = || {
        (
            Curves::new(),
            vec![format!("{}: not written yet", path.display())],
        )
    };
    let size = match std::fs::metadata(path) {
        // A file older than the run is the previous run's, not yet replaced by this one.
        Ok(m)
            if m.modified()
                .ok()
                .zip(record.started_at.system_time())
                .is_some_and(|(modified, started)| modified + Duration::from_secs(1) < started) =>
        {
            return not_yet()
        }
        Ok(m) => m.len(),
        Err(_) => return not_yet(),
    };
    if size > MAX_CURVES_FILE {
        return (
            Curves::new(),
            vec![format!(
                "{}: {size} bytes, more than the {MAX_CURVES_FILE} shown live",
                path.display()
            )],
        );
    }
    let Ok(bytes) = std::fs::read(path) else {
        return (
            Curves::new(),
            vec![format!("{}: unreadable", path.display())],
        );
    };
    let complete = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(&bytes[..0], |i| &bytes[..=i]);
    let text = String::from_utf8_lossy(complete);
    match crate::datafile::parse_history(&text, path) {
        Ok(c) => c,
        Err(e) => (Curves::new(), vec![e.to_string()]),
    }
}

/// The live runs of `model` (every model: `None`) worth showing at `now`: running, lost,
/// or ended less than [`SHOW_ENDED`] ago; running ones first, then lost, then ended, newest
/// first within each. Reads only; removes nothing.
pub fn list(repo: &Repo, model: Option<&ModelName>, now: SystemTime) -> Result<Vec<LiveView>> {
    let dir = live_dir(repo);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("listing", &dir, e)),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        // A record being replaced, or a foreign file: not a live run.
        let Some(record) = read_record(&path) else {
            continue;
        };
        if model.is_some_and(|m| m != &record.model) {
            continue;
        }
        let state = state_of(&record);
        let started = record.started_at.system_time().unwrap_or(now);
        let until = match &record.ended {
            Some(end) => end.at.system_time().unwrap_or(now),
            None => now,
        };
        if state == LiveState::Ended && now.duration_since(until).unwrap_or_default() > SHOW_ENDED {
            continue;
        }
        let (curves, warnings) = curves_so_far(&record);
        out.push(LiveView {
            seconds: until
                .duration_since(started)
                .unwrap_or_default()
                .as_secs_f64(),
            record,
            state,
            curves,
            warnings,
        });
    }
    // Running first, then lost, then ended; newest first within each.
    let rank = |s: LiveState| match s {
        LiveState::Running => 0,
        LiveState::Lost => 1,
        LiveState::Ended => 2,
    };
    out.sort_by(|a, b| {
        rank(a.state)
            .cmp(&rank(b.state))
            .then_with(|| b.record.id.cmp(&a.record.id))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_run_shows_its_curves_so_far_then_how_it_ended() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("creating", "a temp dir", e))?;
        let repo = Repo::init(dir.path())?;
        let model = ModelName::new("clf")?;
        let live = begin(&repo, &model, &["python".into()], "ana", None)?;
        live.append(&[("loss".into(), 0.0, Some(1.5)), ("acc".into(), 0.0, None)])?;
        // A line still being written is not read.
        let file = live.record.history_file.clone().expect("own file");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .and_then(|mut f| f.write_all(b"{\"step\": 1, \"lo"))
            .map_err(|e| Error::io("writing", &file, e))?;
        let now = SystemTime::now();
        let views = list(&repo, Some(&model), now)?;
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].state, LiveState::Running);
        assert_eq!(views[0].curves["loss"], vec![(0.0, Some(1.5))]);
        assert_eq!(views[0].curves["acc"], vec![(0.0, None)]);
        assert!(list(&repo, Some(&ModelName::new("other")?), now)?.is_empty());
        let id = live.id().to_string();
        live.end(LiveEnd {
            at: Timestamp::now(),
            status: RunStatus::Failed,
            version: None,
            run: None,
            reason: "exit code 1".into(),
        })?;
        let views = list(&repo, None, now)?;
        assert_eq!(views[0].state, LiveState::Ended);
        assert_eq!(views[0].record.id, id);
        // Ended long ago: no longer shown.
        let later = now + SHOW_ENDED + Duration::from_secs(60);
        assert!(list(&repo, None, later)?.is_empty());
        Ok(())
    }

    #[test]
    fn a_record_whose_process_is_gone_is_lost_not_running() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("creating", "a temp dir", e))?;
        let repo = Repo::init(dir.path())?;
        let model = ModelName::new("clf")?;
        let mut live = begin(&repo, &model, &["train".into()], "ana", None)?;
        // A process that has exited: its pid is free (or reused with another start time).
        let mut child = std::process::Command::new("true")
            .spawn()
            .map_err(|e| Error::io("running", "true", e))?;
        let pid = child.id();
        child
            .wait()
            .map_err(|e| Error::io("waiting for", "true", e))?;
        live.record.pid = pid;
        live.record.pid_start = Some(u64::MAX);
        live.write()?;
        let views = list(&repo, None, SystemTime::now())?;
        assert_eq!(views[0].state, LiveState::Lost);
        Ok(())
    }
}
