//! `mreg._native`: the compiled half of the `mreg` Python package.
//!
//! A thin layer over the mreg library: each method parses its arguments into the library's
//! typed requests, calls one library function with the GIL released, and returns the
//! result as JSON text, in the same shapes as the CLI's `--json` (built by the library's
//! `ops::view`), which the pure-Python half (`python/mreg/`) turns into typed objects.
//! JSON keeps one definition of every shape for both clients and makes the boundary a
//! single string per call (its cost is measured in docs/BENCHMARKS.md, "Python").
//!
//! Errors become the exception classes of `mreg.errors`, with the library's message, hint,
//! category and variant name.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mreg::names::{AliasName, TagName};
use mreg::ops::query::{BestQuery, ListQuery};
use mreg::query::SortKey;
use mreg::{CommitId, Error, ModelName, Repo};
use pyo3::prelude::*;

mod support;
use support::*;

/// An open store. Methods are safe to call from several Python threads at once: the
/// library takes the same locks as concurrent `mreg` processes.
#[pyclass(frozen, module = "mreg._native")]
struct Store {
    repo: Repo,
    /// Versions of the load cache this process loaded: kept from eviction while the
    /// `Repo` lives (its files may be read at any time).
    in_use: std::sync::Mutex<Vec<mreg::ops::load_cache::InUse>>,
}

#[pymethods]
impl Store {
    /// Open the store at `path` (a `.modelreg` directory), or find it upward from `path`
    /// (default: $MREG_STORE, else the current directory), as the CLI does.
    #[staticmethod]
    #[pyo3(signature = (path=None))]
    fn open(py: Python<'_>, path: Option<PathBuf>) -> PyResult<Store> {
        let repo = call(py, || {
            let cwd = std::env::current_dir().map_err(|e| Error::io("reading", ".", e))?;
            mreg::client::open_store(&env(), path.as_deref(), &cwd)
        })?;
        Ok(Store {
            repo,
            in_use: Default::default(),
        })
    }

    /// Create a store in `path` (its `.modelreg` directory).
    #[staticmethod]
    fn init(py: Python<'_>, path: PathBuf) -> PyResult<Store> {
        let repo = call(py, || {
            Ok(Repo::init(&path)?.with_remote_options(mreg::client::remote_options(&env())))
        })?;
        Ok(Store {
            repo,
            in_use: Default::default(),
        })
    }

    /// A new store in `path` from a remote: its history and metadata (`data`: every
    /// version's data too). Returns the pull report as JSON; the store opens at `path`.
    #[staticmethod]
    #[pyo3(signature = (url, path, endpoint=None, region=None, name="origin".to_string(), data=false, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn clone(
        py: Python<'_>,
        url: String,
        path: PathBuf,
        endpoint: Option<String>,
        region: Option<String>,
        name: String,
        data: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let progress = PyProgress::new(progress);
        call(py, || {
            let mut spec = mreg::remote::RemoteSpec {
                url,
                endpoint,
                region,
                path_style: None,
            };
            if let Ok(mreg::remote::config::Location::Dir(p)) = spec.location() {
                if p.is_relative() {
                    let cwd = std::env::current_dir()
                        .map_err(|e| Error::io("reading the current directory", ".", e))?;
                    spec.url = mreg::repo::normalize(&cwd.join(p)).display().to_string();
                }
            }
            let (_, rep) = mreg::remote::clone(
                &mreg::remote::CloneRequest {
                    spec,
                    dir: path,
                    name,
                    all_data: data,
                    options: mreg::client::remote_options(&env()),
                },
                &progress,
            )?;
            Ok(json(&rep))
        })
    }

    /// Publish local moves (all models, or `models`) to a remote; the push report as JSON,
    /// with `refused_messages` in words.
    #[pyo3(signature = (remote=None, models=Vec::new(), progress=None))]
    fn push(
        &self,
        py: Python<'_>,
        remote: Option<String>,
        models: Vec<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let progress = PyProgress::new(progress);
        call(py, || {
            let models = ModelName::parse_all(&models)?;
            let rep = mreg::remote::push(&self.current()?, remote.as_deref(), &models, &progress)?;
            let mut v = serde_json::to_value(&rep).expect("serializes");
            v["refused_messages"] = rep.refused().map(|r| r.to_string()).collect();
            Ok(v.to_string())
        })
    }

    /// New history and version metadata from a remote; no local ref moves.
    #[pyo3(signature = (remote=None, progress=None))]
    fn fetch(
        &self,
        py: Python<'_>,
        remote: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let progress = PyProgress::new(progress);
        call(py, || {
            Ok(json(&mreg::remote::fetch(
                &self.current()?,
                remote.as_deref(),
                &progress,
            )?))
        })
    }

    /// Fetch, then take the remote's moves (all models, or `models`); the report as JSON.
    #[pyo3(signature = (remote=None, models=Vec::new(), progress=None))]
    fn pull(
        &self,
        py: Python<'_>,
        remote: Option<String>,
        models: Vec<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let progress = PyProgress::new(progress);
        call(py, || {
            let models = ModelName::parse_all(&models)?;
            Ok(json(&mreg::remote::pull(
                &self.current()?,
                remote.as_deref(),
                &models,
                &progress,
            )?))
        })
    }

    /// The configured remotes: name -> {url, endpoint, region, origin}.
    fn remotes(&self, py: Python<'_>) -> PyResult<String> {
        call(py, || {
            let all = mreg::remote::config::remotes(&self.current()?)?;
            let v: BTreeMap<String, serde_json::Value> = all
                .into_iter()
                .map(|(name, (spec, origin))| {
                    let mut s = serde_json::to_value(&spec).expect("serializes");
                    s["origin"] = format!("{origin:?}").to_lowercase().into();
                    (name, s)
                })
                .collect();
            Ok(json(&v))
        })
    }

    /// The directory the store versions files of (the work tree root).
    #[getter]
    fn root(&self) -> PathBuf {
        self.repo.root().to_path_buf()
    }

    /// The `.modelreg` directory.
    #[getter]
    fn store_dir(&self) -> PathBuf {
        self.repo.store_dir().to_path_buf()
    }

    fn resolve(&self, py: Python<'_>, rev: String) -> PyResult<String> {
        call(py, || Ok(self.repo.resolve(&rev)?.to_hex()))
    }

    fn show(&self, py: Python<'_>, rev: String) -> PyResult<String> {
        call(py, || {
            let id = self.repo.resolve(&rev)?;
            Ok(json(&mreg::ops::view::show(&self.repo, &id)?))
        })
    }

    #[pyo3(signature = (start=None, limit=None))]
    fn log(&self, py: Python<'_>, start: Option<String>, limit: Option<usize>) -> PyResult<String> {
        call(py, || {
            let items = mreg::ops::view::log(&self.repo, start.as_deref(), limit)?;
            Ok(json(&items))
        })
    }

    fn models(&self, py: Python<'_>) -> PyResult<String> {
        call(py, || Ok(json(&mreg::refs::model_summaries(&self.repo)?)))
    }

    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (model=None, alias=None, labels=Vec::new(), dataset=None, since=None, until=None, archived=false, filters=Vec::new(), sort=None, limit=None, only_archived=false))]
    fn list(
        &self,
        py: Python<'_>,
        model: Option<String>,
        alias: Option<String>,
        labels: Vec<String>,
        dataset: Option<String>,
        since: Option<String>,
        until: Option<String>,
        archived: bool,
        filters: Vec<String>,
        sort: Option<String>,
        limit: Option<usize>,
        only_archived: bool,
    ) -> PyResult<String> {
        use mreg::ops::query::{parse_filters, parse_time_bound};
        call(py, || {
            let q = ListQuery {
                model: model.as_deref().map(ModelName::new).transpose()?,
                alias,
                labels,
                dataset,
                since: since
                    .as_deref()
                    .map(|s| parse_time_bound(s, false))
                    .transpose()?,
                until: until
                    .as_deref()
                    .map(|s| parse_time_bound(s, true))
                    .transpose()?,
                include_archived: archived,
                only_archived,
                filters: parse_filters(&filters)?,
                sort: sort.as_deref().map(SortKey::parse).transpose()?,
                limit,
            };
            Ok(json(&mreg::ops::query::list(&self.repo, &q)?))
        })
    }

    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (model, key, dataset=None, minimize=None, set_alias=None, message=String::new(), author=None))]
    fn best(
        &self,
        py: Python<'_>,
        model: String,
        key: String,
        dataset: Option<String>,
        minimize: Option<bool>,
        set_alias: Option<String>,
        message: String,
        author: Option<String>,
    ) -> PyResult<String> {
        call(py, || {
            let set_alias = match set_alias {
                Some(a) => Some((AliasName::new(&a)?, move_info(message, author)?)),
                None => None,
            };
            let b = mreg::ops::query::best(
                &self.repo,
                BestQuery {
                    model: ModelName::new(&model)?,
                    key,
                    dataset,
                    minimize,
                    set_alias,
                },
            )?;
            Ok(json(&b))
        })
    }

    fn compare(&self, py: Python<'_>, revs: Vec<String>) -> PyResult<String> {
        call(py, || {
            let ids = self.repo.resolve_all(&revs)?;
            Ok(json(&mreg::ops::query::compare(&self.repo, &ids)?))
        })
    }

    fn diff(&self, py: Python<'_>, a: String, b: String) -> PyResult<String> {
        call(py, || {
            let (ia, ib) = (self.repo.resolve(&a)?, self.repo.resolve(&b)?);
            Ok(json(&mreg::ops::view::diff(&self.repo, ia, ib)?))
        })
    }

    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (paths, model, message=String::new(), params="{}".to_string(), metrics="{}".to_string(), datasets=Vec::new(), labels=Vec::new(), aliases=Vec::new(), derived_from=Vec::new(), cwd=None, author=None, store_datasets=false, progress=None))]
    fn commit(
        &self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        model: String,
        message: String,
        params: String,
        metrics: String,
        datasets: Vec<(String, PathBuf)>,
        labels: Vec<String>,
        aliases: Vec<String>,
        derived_from: Vec<String>,
        cwd: Option<PathBuf>,
        author: Option<String>,
        store_datasets: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let progress = PyProgress::new(progress);
        call(py, || {
            let req = commit_request(
                &self.repo,
                paths,
                &model,
                message,
                &params,
                &metrics,
                datasets,
                labels,
                aliases,
                derived_from,
                cwd,
                author,
                store_datasets,
            )?;
            let out = mreg::ops::commit::commit(&self.repo, req, &progress)?;
            Ok(json(&mreg::ops::view::show(&self.repo, &out.id)?))
        })
    }

    /// Commit a run recorded in this process (`mreg.Run`): the commit's fields plus the
    /// command line, curves (`{name: [[step, value], ...]}`), Python environment and
    /// resources.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (paths, model, command, curves, python, wall_seconds, cpu_seconds, peak_rss_bytes, message=String::new(), params="{}".to_string(), metrics="{}".to_string(), recorded="{}".to_string(), datasets=Vec::new(), labels=Vec::new(), aliases=Vec::new(), cwd=None, author=None, progress=None, watch=None, log=None))]
    fn record_run(
        &self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        model: String,
        command: Vec<String>,
        curves: String,
        python: String,
        wall_seconds: f64,
        cpu_seconds: f64,
        peak_rss_bytes: u64,
        message: String,
        params: String,
        metrics: String,
        recorded: String,
        datasets: Vec<(String, PathBuf)>,
        labels: Vec<String>,
        aliases: Vec<String>,
        cwd: Option<PathBuf>,
        author: Option<String>,
        progress: Option<Py<PyAny>>,
        watch: Option<PyRefMut<'_, Watch>>,
        log: Option<(Vec<u8>, Vec<u8>, u64)>,
    ) -> PyResult<String> {
        let progress = PyProgress::new(progress);
        let (peak_threads, gpu) = Watch::take(watch);
        call(py, || {
            let commit = commit_request(
                &self.repo,
                paths,
                &model,
                message,
                &params,
                &metrics,
                datasets,
                labels,
                aliases,
                Vec::new(),
                cwd,
                author,
                true,
            )?;
            let run = mreg::ops::inprocess::InProcessRun {
                commit,
                command,
                curves: parse_json("curves", &curves)?,
                python: parse_json("python environment", &python)?,
                resources: mreg::recipe::RunResources {
                    wall_seconds,
                    cpu_seconds,
                    peak_rss_bytes,
                    peak_threads,
                    gpu,
                },
                recorded: parse_json("recorded values", &recorded)?,
                log: log.map(captured),
            };
            let out = mreg::ops::inprocess::record_in_process(&self.repo, run, &progress)?;
            Ok(json(&mreg::ops::view::show(&self.repo, &out.id)?))
        })
    }

    #[pyo3(signature = (rev, to=None, force=false, verify=false, progress=None))]
    fn load(
        &self,
        py: Python<'_>,
        rev: String,
        to: Option<PathBuf>,
        force: bool,
        verify: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let progress = PyProgress::new(progress);
        call(py, || {
            let id = self.repo.resolve(&rev)?;
            let mut loaded = mreg::ops::checkout::load(
                &self.repo,
                &id,
                to.as_deref(),
                force,
                verify,
                &progress,
            )?;
            let text = json(&loaded);
            if let (Some(u), Ok(mut held)) = (loaded.in_use.take(), self.in_use.lock()) {
                held.push(u);
            }
            Ok(text)
        })
    }

    /// Read some tensors of a version's safetensors file (fetching only their chunks when
    /// the data is on a remote): (JSON of the read, each tensor's bytes in order).
    #[pyo3(signature = (rev, names, file=None))]
    fn read_tensors(
        &self,
        py: Python<'_>,
        rev: String,
        names: Vec<String>,
        file: Option<String>,
    ) -> PyResult<(String, Vec<Py<pyo3::types::PyBytes>>)> {
        let read = call(py, || {
            let id = self.repo.resolve(&rev)?;
            mreg::ops::tensors::read_tensors(&self.repo, &id, &names, file.as_deref())
        })?;
        let blobs = read
            .tensors
            .iter()
            .map(|t| pyo3::types::PyBytes::new(py, &t.data).unbind())
            .collect();
        Ok((json(&read), blobs))
    }

    /// Sign a version with an EC private key file (OpenSSF model-signing); the stored
    /// signature, as JSON.
    #[pyo3(signature = (rev, key, message=String::new(), author=None))]
    fn sign(
        &self,
        py: Python<'_>,
        rev: String,
        key: PathBuf,
        message: String,
        author: Option<String>,
    ) -> PyResult<String> {
        call(py, || {
            let id = self.repo.resolve(&rev)?;
            let pem = mreg::trust::read_key_file(&key)?;
            let key = mreg::trust::PrivateKey::from_pem(&pem, &key.display().to_string())?;
            let signed = mreg::trust::sign(&self.repo, &id, &key, move_info(message, author)?)?;
            Ok(json(&signed))
        })
    }

    /// Verify a version's signature (a bundle file, or the stored ones) with public key
    /// files (none: the model's trusted keys); what verified, as JSON.
    #[pyo3(signature = (rev, keys=Vec::new(), signature=None))]
    fn verify_signature(
        &self,
        py: Python<'_>,
        rev: String,
        keys: Vec<PathBuf>,
        signature: Option<PathBuf>,
    ) -> PyResult<String> {
        call(py, || {
            let id = self.repo.resolve(&rev)?;
            let bundle = signature
                .map(|path| {
                    std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))
                })
                .transpose()?;
            let v = mreg::trust::verify(
                &self.repo,
                &id,
                mreg::trust::read_public_keys(&keys)?,
                bundle.as_deref(),
            )?;
            Ok(json(&v))
        })
    }

    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (model, rev=None, expect=None, message=String::new(), author=None, allow_unsafe=false))]
    fn promote(
        &self,
        py: Python<'_>,
        model: String,
        rev: Option<String>,
        expect: Option<String>,
        message: String,
        author: Option<String>,
        allow_unsafe: bool,
    ) -> PyResult<String> {
        call(py, || {
            let model = ModelName::new(&model)?;
            let rev = rev.map(|r| self.repo.resolve(&r)).transpose()?;
            let expect = mreg::refs::Expect::resolve(&self.repo, expect.as_deref())?;
            let p = mreg::refs::promote_with(
                &self.repo,
                &model,
                rev,
                expect,
                move_info(message, author)?,
                allow_unsafe,
            )?;
            Ok(json(&p))
        })
    }

    #[pyo3(signature = (model, expect=None, message=String::new(), author=None))]
    fn rollback(
        &self,
        py: Python<'_>,
        model: String,
        expect: Option<String>,
        message: String,
        author: Option<String>,
    ) -> PyResult<String> {
        call(py, || {
            let model = ModelName::new(&model)?;
            let expect = mreg::refs::Expect::resolve(&self.repo, expect.as_deref())?;
            let p = mreg::refs::rollback(&self.repo, &model, expect, move_info(message, author)?)?;
            Ok(json(&p))
        })
    }

    /// Check, before a run starts, every name its commit will record: the model, labels,
    /// dataset names and aliases (as `mreg run` does before the job).
    fn check_run_names(
        &self,
        py: Python<'_>,
        model: String,
        labels: Vec<String>,
        datasets: Vec<String>,
        aliases: Vec<String>,
    ) -> PyResult<()> {
        call(py, || {
            let model = ModelName::new(&model)?;
            for a in &aliases {
                AliasName::new(a)?;
            }
            mreg::ops::commit::check_names(
                &self.repo,
                &model,
                &labels,
                datasets.iter().map(String::as_str),
            )
        })
    }

    /// Point MODEL@ALIAS at REV. `expect`: the revision the alias must point at now, or
    /// "none" for "must not exist" (compare-and-swap); None moves it unconditionally.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (model, alias, rev, expect=None, message=String::new(), author=None))]
    fn set_alias(
        &self,
        py: Python<'_>,
        model: String,
        alias: String,
        rev: String,
        expect: Option<String>,
        message: String,
        author: Option<String>,
    ) -> PyResult<String> {
        use mreg::refs::Expect;
        call(py, || {
            let model = ModelName::new(&model)?;
            let alias = AliasName::new(&alias)?;
            let target = self.repo.resolve(&rev)?;
            let expect = Expect::resolve(&self.repo, expect.as_deref())?;
            let m = mreg::refs::alias_set(
                &self.repo,
                &model,
                &alias,
                target,
                expect,
                move_info(message, author)?,
            )?;
            Ok(json(&m))
        })
    }

    /// The model's promotion policy as JSON (`null` when none).
    fn policy(&self, py: Python<'_>, model: String) -> PyResult<String> {
        call(py, || {
            let model = ModelName::new(&model)?;
            Ok(json(&self.current()?.policy(&model)))
        })
    }

    /// Set (`metric` given) or clear (`metric` None) the model's promotion policy.
    #[pyo3(signature = (model, metric=None, minimize=false, message=String::new(), author=None))]
    fn set_policy(
        &self,
        py: Python<'_>,
        model: String,
        metric: Option<String>,
        minimize: bool,
        message: String,
        author: Option<String>,
    ) -> PyResult<()> {
        call(py, || {
            let model = ModelName::new(&model)?;
            let policy = metric.map(|metric| mreg::repo::Policy {
                metric,
                goal: if minimize {
                    mreg::repo::Goal::Min
                } else {
                    mreg::repo::Goal::Max
                },
            });
            mreg::policy::set(
                &self.current()?,
                &model,
                policy,
                move_info(message, author)?,
            )
        })
    }

    /// Archive (or unarchive) a version; returns whether anything changed.
    #[pyo3(signature = (rev, archive, message=String::new(), author=None))]
    fn set_archived(
        &self,
        py: Python<'_>,
        rev: String,
        archive: bool,
        message: String,
        author: Option<String>,
    ) -> PyResult<bool> {
        call(py, || {
            let id = self.repo.resolve(&rev)?;
            mreg::refs::set_archived(&self.repo, id, archive, move_info(message, author)?)
        })
    }

    /// Add (or remove) a label on a version; returns whether anything changed.
    #[pyo3(signature = (rev, label, add, message=String::new(), author=None))]
    fn set_label(
        &self,
        py: Python<'_>,
        rev: String,
        label: String,
        add: bool,
        message: String,
        author: Option<String>,
    ) -> PyResult<bool> {
        call(py, || {
            let id = self.repo.resolve(&rev)?;
            mreg::notes::set_label(&self.repo, &id, &label, add, move_info(message, author)?)
        })
    }

    #[pyo3(signature = (name, rev, message=String::new(), author=None))]
    fn tag(
        &self,
        py: Python<'_>,
        name: String,
        rev: String,
        message: String,
        author: Option<String>,
    ) -> PyResult<String> {
        call(py, || {
            let tag = TagName::new(&name)?;
            let target = self.repo.resolve(&rev)?;
            let e = mreg::refs::tag_create(&self.repo, &tag, target, move_info(message, author)?)?;
            Ok(json(&e))
        })
    }

    fn tags(&self, py: Python<'_>) -> PyResult<String> {
        call(py, || Ok(json(&mreg::refs::tags(&self.repo)?)))
    }

    /// Every move of a model's refs (optionally only of one alias), oldest first.
    #[pyo3(signature = (model, alias=None))]
    fn history(&self, py: Python<'_>, model: String, alias: Option<String>) -> PyResult<String> {
        use mreg::history::RefName;
        call(py, || {
            let model = ModelName::new(&model)?;
            self.repo.require_model(&model)?;
            let key = alias
                .as_deref()
                .map(|a| AliasName::new(a).map(RefName::Alias))
                .transpose()?;
            let (entries, _) = self.repo.model_log(&model).entries()?;
            Ok(json(&mreg::history::moves_of(&entries, key.as_ref())))
        })
    }

    /// A model's description and labels; with a change, set them first (one history line).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (model, description=None, clear=false, add_labels=Vec::new(), remove_labels=Vec::new(), message=String::new(), author=None))]
    fn describe(
        &self,
        py: Python<'_>,
        model: String,
        description: Option<String>,
        clear: bool,
        add_labels: Vec<String>,
        remove_labels: Vec<String>,
        message: String,
        author: Option<String>,
    ) -> PyResult<String> {
        use mreg::refs::settings;
        call(py, || {
            let model = ModelName::new(&model)?;
            let change = settings::SettingsChange {
                description: if clear {
                    Some(None)
                } else {
                    description.map(Some)
                },
                add_labels,
                remove_labels,
            };
            Ok(json(&settings::describe(
                &self.repo,
                &model,
                &change,
                move_info(message, author)?,
            )?))
        })
    }

    /// Every run of a model (or of every model), newest first, failed ones included.
    #[pyo3(signature = (model=None))]
    fn runs(&self, py: Python<'_>, model: Option<String>) -> PyResult<String> {
        call(py, || {
            let model = model.as_deref().map(ModelName::new).transpose()?;
            Ok(json(&mreg::ops::runs::list(&self.repo, model.as_ref())?))
        })
    }

    /// One run by id (or the version a run made): its listing and, for a failed run, its
    /// record; with `log`, its output log instead (bytes).
    fn run_info(&self, py: Python<'_>, run: String) -> PyResult<String> {
        call(py, || {
            let (view, record) = mreg::ops::runs::find(&self.repo, &run)?;
            let mut v = serde_json::to_value(&view).expect("serializes");
            if let Some(r) = record {
                v["record"] = serde_json::to_value(r).expect("serializes");
            }
            Ok(json(&v))
        })
    }

    fn run_log(&self, py: Python<'_>, run: String) -> PyResult<Vec<u8>> {
        call(py, || {
            let (view, record) = mreg::ops::runs::find(&self.repo, &run)?;
            mreg::ops::runs::log(&self.repo, &view, record.as_ref())
        })
    }

    /// Begin the live record of a `repo.run()` block (shown on the dashboard as it trains).
    #[pyo3(signature = (model, command, author=None))]
    fn live_begin(
        &self,
        py: Python<'_>,
        model: String,
        command: Vec<String>,
        author: Option<String>,
    ) -> PyResult<LiveRun> {
        call(py, || {
            let model = ModelName::new(&model)?;
            let info = move_info(String::new(), author)?;
            mreg::ops::live::begin(&self.repo, &model, &command, &info.author, None)
                .map(LiveRun::new)
        })
    }

    /// Record a `repo.run()` block that raised (or was interrupted): a run record, not a
    /// version. Returns the record's id.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (model, command, interrupted, reason, wall_seconds, cpu_seconds, peak_rss_bytes, message=String::new(), params="{}".to_string(), labels=Vec::new(), cwd=None, author=None, watch=None, log=None))]
    fn record_failed_run(
        &self,
        py: Python<'_>,
        model: String,
        command: Vec<String>,
        interrupted: bool,
        reason: String,
        wall_seconds: f64,
        cpu_seconds: f64,
        peak_rss_bytes: u64,
        message: String,
        params: String,
        labels: Vec<String>,
        cwd: Option<PathBuf>,
        author: Option<String>,
        watch: Option<PyRefMut<'_, Watch>>,
        log: Option<(Vec<u8>, Vec<u8>, u64)>,
    ) -> PyResult<String> {
        let (peak_threads, gpu) = Watch::take(watch);
        call(py, || {
            let info = move_info(String::new(), author)?;
            let cwd = match cwd {
                Some(c) => c,
                None => std::env::current_dir().map_err(|e| Error::io("reading", ".", e))?,
            };
            let id = mreg::ops::inprocess::record_failed_in_process(
                &self.repo,
                mreg::ops::inprocess::FailedInProcess {
                    model: ModelName::new(&model)?,
                    command,
                    cwd,
                    interrupted,
                    reason,
                    params: parse_json("params", &params)?,
                    labels,
                    message,
                    resources: mreg::recipe::RunResources {
                        wall_seconds,
                        cpu_seconds,
                        peak_rss_bytes,
                        peak_threads,
                        gpu,
                    },
                    author: info.author.clone(),
                    log: log.map(captured),
                },
                info,
            )?;
            Ok(id.to_hex())
        })
    }

    /// Prune one version's data on purpose (`mreg prune`, with `remote` `prune --remote`);
    /// returns the plan (or what was done) as JSON.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (rev, dry_run=false, message=String::new(), author=None, remote=None, grace_seconds=None, progress=None))]
    fn prune(
        &self,
        py: Python<'_>,
        rev: String,
        dry_run: bool,
        message: String,
        author: Option<String>,
        remote: Option<String>,
        grace_seconds: Option<u64>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let progress = PyProgress::new(progress);
        call(py, || {
            let id = self.repo.resolve(&rev)?;
            let info = move_info(message, author)?;
            match remote {
                Some(r) => {
                    let opts = remote_gc_options(dry_run, grace_seconds);
                    let done = mreg::remote::prune_remote(
                        &self.current()?,
                        id,
                        Some(&r),
                        info,
                        &opts,
                        &progress,
                    )?;
                    Ok(json(&done))
                }
                None => Ok(json(&mreg::gc::prune(&self.repo, id, dry_run, info)?)),
            }
        })
    }

    /// `mreg gc --remote`: the plan (dry run), or the sweep; JSON.
    #[pyo3(signature = (remote=None, dry_run=true, grace_seconds=None, progress=None))]
    fn gc_remote(
        &self,
        py: Python<'_>,
        remote: Option<String>,
        dry_run: bool,
        grace_seconds: Option<u64>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let progress = PyProgress::new(progress);
        call(py, || {
            let opts = remote_gc_options(dry_run, grace_seconds);
            let rep =
                mreg::remote::gc_remote(&self.current()?, remote.as_deref(), &opts, &progress)?;
            Ok(json(&rep))
        })
    }

    /// `mreg du --remote`: bytes on the remote per version, and what gc would free; JSON.
    #[pyo3(signature = (remote=None, progress=None))]
    fn du_remote(
        &self,
        py: Python<'_>,
        remote: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let progress = PyProgress::new(progress);
        call(py, || {
            Ok(json(&mreg::remote::du_remote(
                &self.current()?,
                remote.as_deref(),
                &progress,
            )?))
        })
    }

    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (rev, dataset, metrics, data=None, message=String::new(), author=None))]
    fn add_evaluation(
        &self,
        py: Python<'_>,
        rev: String,
        dataset: String,
        metrics: String,
        data: Option<PathBuf>,
        message: String,
        author: Option<String>,
    ) -> PyResult<String> {
        call(py, || {
            let commit: CommitId = self.repo.resolve(&rev)?;
            let e = mreg::ops::eval::add_evaluation(
                &self.repo,
                mreg::ops::eval::EvaluationRequest {
                    commit,
                    dataset,
                    metrics: self::metrics("metrics", &metrics)?,
                    data: data.map(|p| {
                        let shown = p.display().to_string();
                        (p, shown)
                    }),
                    info: move_info(message, author)?,
                },
            )?;
            Ok(json(&e))
        })
    }
}

impl Store {
    /// The store with its configuration as it is now: a long-lived process must see a
    /// remote added by `mreg remote add` after it opened the store.
    fn current(&self) -> mreg::Result<Repo> {
        Ok(Repo::open(self.repo.store_dir())?
            .with_remote_options(mreg::client::remote_options(&env())))
    }
}

/// The compiled module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Store>()?;
    m.add_class::<Watch>()?;
    m.add_class::<LiveRun>()?;
    m.add("LOG_HEAD", mreg::ops::inprocess::CapturedLog::HEAD)?;
    m.add("LOG_TAIL", mreg::ops::inprocess::CapturedLog::TAIL)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// Remote gc's options from Python's arguments (the default grace when none is given).
fn remote_gc_options(dry_run: bool, grace_seconds: Option<u64>) -> mreg::remote::RemoteGcOptions {
    mreg::remote::RemoteGcOptions {
        grace: grace_seconds
            .map(std::time::Duration::from_secs)
            .unwrap_or(mreg::remote::DEFAULT_GRACE),
        dry_run,
    }
}
