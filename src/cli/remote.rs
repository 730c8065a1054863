//! `mreg remote`, `push`, `fetch`, `pull`, `clone`: share a store through a remote.

use std::path::PathBuf;

use mreg::remote::{self, RemoteSpec};
use mreg::{Error, ModelName};

use super::{fmt, Ctx, Output};

/// Manage remotes: S3-compatible buckets or shared directories that stores push to and
/// pull from.
///
/// Credentials are never stored by mreg: they come from AWS_ACCESS_KEY_ID /
/// AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials and ~/.aws/config.
///
/// Examples:
///   mreg remote add origin s3://ml-models/fraud                  # AWS S3
///   mreg remote add origin s3://models/team --endpoint http://127.0.0.1:8333
///   mreg remote add shared /mnt/nfs/models --tracked             # in mreg-remotes.yaml, for git
///   mreg remote list
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Add a remote. Checks that it is reachable and honours conditional writes (without
    /// them concurrent pushes could lose history), unless --no-check.
    Add {
        name: String,
        /// s3://BUCKET/PREFIX, file:///PATH, or a directory.
        url: String,
        #[command(flatten)]
        s3: S3Opts,
        /// Write it to mreg-remotes.yaml at the project root (commit that file to git, so a
        /// fresh clone of the code knows where its models are) instead of the store's config.
        #[arg(long)]
        tracked: bool,
        /// Do not contact the remote now.
        #[arg(long)]
        no_check: bool,
    },
    /// List the remotes.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a remote (nothing on the remote is touched).
    #[command(alias = "rm")]
    Remove { name: String },
}

/// S3 connection settings.
#[derive(clap::Args, Debug, Default)]
pub struct S3Opts {
    /// S3 endpoint of a non-AWS server, e.g. http://127.0.0.1:8333.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Region (else AWS_REGION, the profile's, or us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// Path-style addressing (ENDPOINT/BUCKET/KEY): the default with --endpoint.
    #[arg(long, conflicts_with = "virtual_hosted")]
    path_style: bool,
    /// Virtual-hosted addressing (BUCKET.ENDPOINT/KEY): the default for AWS.
    #[arg(long)]
    virtual_hosted: bool,
}

impl S3Opts {
    fn spec(&self, url: &str) -> RemoteSpec {
        RemoteSpec {
            url: url.to_string(),
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            path_style: match (self.path_style, self.virtual_hosted) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
        }
    }
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    match a.cmd {
        Cmd::Add {
            name,
            url,
            s3,
            tracked,
            no_check,
        } => {
            let mut spec = s3.spec(&url);
            if let Ok(remote::config::Location::Dir(p)) = spec.location() {
                // A relative directory is relative to where the command runs.
                if p.is_relative() {
                    spec.url = mreg::repo::normalize(&ctx.cwd.join(p))
                        .display()
                        .to_string();
                }
            }
            if !no_check {
                let backend = spec.open(repo.remote_options())?;
                remote::probe_conditional_writes(&backend)?;
            }
            remote::config::add(&repo, &name, spec.clone(), tracked)?;
            ctx.note(format_args!(
                "added remote {name}: {}{}",
                spec.url,
                if tracked {
                    format!(" (in {}: commit it to git)", remote::config::TRACKED_FILE)
                } else {
                    String::new()
                }
            ));
            Ok(Output::ok(String::new()))
        }
        Cmd::List { json } => {
            let all = remote::config::list(&repo)?;
            if json {
                return Ok(Output::ok(super::json(&all)));
            }
            let mut s = String::new();
            for r in &all {
                s.push_str(&format!(
                    "{}\t{}{}{}\n",
                    r.name,
                    r.url,
                    r.endpoint
                        .as_ref()
                        .map(|e| format!(" (endpoint {e})"))
                        .unwrap_or_default(),
                    if r.defined_in == remote::Origin::Tracked {
                        format!(" [{}]", remote::config::TRACKED_FILE)
                    } else {
                        String::new()
                    }
                ));
            }
            Ok(Output::ok(s))
        }
        Cmd::Remove { name } => {
            remote::config::remove(&repo, &name)?;
            ctx.note(format_args!(
                "removed remote {name} (its content was not touched)"
            ));
            Ok(Output::ok(String::new()))
        }
    }
}

/// Split `[REMOTE] [ARGS...]`: the first argument is a remote when one has that name.
fn split_remote(
    repo: &mreg::Repo,
    args: Vec<String>,
) -> mreg::Result<(Option<String>, Vec<String>)> {
    let names = remote::config::remotes(repo)?;
    let mut it = args.into_iter();
    match it.next() {
        Some(first) if names.contains_key(&first) => Ok((Some(first), it.collect())),
        Some(first) => Ok((None, std::iter::once(first).chain(it).collect())),
        None => Ok((None, Vec::new())),
    }
}

/// Upload the versions, notes and history moves the remote lacks.
///
/// Data goes first (in parallel), then commits, then the history lines; a push interrupted
/// at any point leaves the remote consistent, and running it again finishes it. A move of a
/// ref that someone else moved on the remote since your last fetch is refused (exit 1):
/// run `mreg pull`, check the result, redo the move if still wanted, and push again.
///
/// Examples:
///   mreg push                      # every model to the default remote (origin)
///   mreg push origin fraud         # one model
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct PushArgs {
    /// [REMOTE] [MODEL...]: the remote (default: origin, or the only one) and models (default: all).
    #[arg(value_name = "REMOTE|MODEL")]
    args: Vec<String>,
    #[arg(long)]
    json: bool,
}

/// Remote lines pull refused (they break a rule every move obeys): an error each; exit 1.
fn report_refused_lines(lines: &[String]) -> u8 {
    for l in lines {
        eprintln!("error: refused {l}; it and the later lines of its model were not applied");
    }
    if lines.is_empty() {
        0
    } else {
        eprintln!("hint: the remote holds moves no mreg command makes (written by hand or by a hostile writer); `mreg fsck --remote` lists them. Everything else was applied");
        1
    }
}

/// Lines that carry this store's writer id without being its moves.
fn warn_impostors(lines: &[String]) {
    if !lines.is_empty() {
        eprintln!(
            "warning: {} carry this store's writer id but are not its moves (a restored copy of this store, or a forged line); they are treated as another writer's. `mreg fsck --remote` lists them",
            lines.join(", ")
        );
    }
}

pub fn push(ctx: &Ctx, a: PushArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let (name, models) = split_remote(&repo, a.args)?;
    let models = ModelName::parse_all(&models)?;
    let started = std::time::Instant::now();
    let rep = remote::push(&repo, name.as_deref(), &models, &ctx.progress())?;
    let secs = started.elapsed().as_secs_f64();
    let code = if rep.refused().next().is_some() { 1 } else { 0 };
    for r in rep.refused() {
        eprintln!("error: rejected: {r}");
    }
    if code != 0 {
        eprintln!("hint: `mreg pull` takes the remote's moves (reporting any local move it replaces); then redo yours if still wanted, and push again");
    }
    warn_impostors(&rep.impostor_lines);
    for id in &rep.pushed_without_data {
        eprintln!(
            "warning: version {} was pruned here before it was ever pushed: its metadata and the prune (who, when, why) were published, its data was not (it is nowhere now)",
            &id[..12.min(id.len())]
        );
    }
    if a.json {
        return Ok(Output {
            stdout: super::json(&rep),
            code,
        });
    }
    let pushed: usize = rep.models.iter().map(|m| m.lines_pushed).sum();
    if code != 0 && pushed == 0 && rep.objects_uploaded == 0 {
        // The refusal above says it all: no "pushed ... 0 moves" after it.
        return Ok(Output {
            stdout: String::new(),
            code,
        });
    }
    ctx.note(format_args!(
        "pushed to {} ({}): {} object(s), {} in {secs:.1} s ({}/s); {} history move(s) published{}",
        rep.remote,
        rep.url,
        rep.objects_uploaded,
        fmt::size(rep.bytes_uploaded),
        fmt::size((rep.bytes_uploaded as f64 / secs.max(1e-3)) as u64),
        pushed,
        if pushed == 0 && code == 0 {
            " (everything up to date)"
        } else if code != 0 {
            " before the refused one"
        } else {
            ""
        }
    ));
    for m in &rep.models {
        if let (Some(model), false) = (&m.model, m.versions.is_empty()) {
            ctx.note(format_args!(
                "published {}",
                m.versions
                    .iter()
                    .map(|n| format!("{model}#{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(Output {
        stdout: String::new(),
        code,
    })
}

/// Download new history and version metadata from a remote (no file data, no local ref
/// changes: `mreg pull` applies them).
#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// The remote (default: origin, or the only one).
    remote: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn fetch(ctx: &Ctx, a: FetchArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let rep = remote::fetch(&repo, a.remote.as_deref(), &ctx.progress())?;
    if a.json {
        return Ok(Output::ok(super::json(&rep)));
    }
    let lines: usize = rep.new_lines.values().sum();
    ctx.note(format_args!(
        "fetched from {}: {lines} new history line(s) in {} model(s), {} metadata object(s) ({})",
        rep.remote,
        rep.new_lines.len(),
        rep.objects_fetched,
        fmt::size(rep.bytes_fetched)
    ));
    Ok(Output::ok(String::new()))
}

/// Fetch, then bring local refs up to date with the remote's moves.
///
/// A local move you did not push that the remote contradicts (you and someone else both
/// moved `production`) is replaced by the remote's and reported; your versions are never
/// deleted. REV arguments limit the pull to their models; a revision naming a version
/// (MODEL@ALIAS, an id) also downloads that version's data now instead of at checkout.
///
/// Examples:
///   mreg pull
///   mreg pull origin fraud@production
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct PullArgs {
    /// [REMOTE] [REV...]
    #[arg(value_name = "REMOTE|REV")]
    args: Vec<String>,
    #[arg(long)]
    json: bool,
}

pub fn pull(ctx: &Ctx, a: PullArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let (name, revs) = split_remote(&repo, a.args)?;
    let mut models = Vec::new();
    let mut versions = Vec::new();
    for r in &revs {
        match ModelName::new(r) {
            Ok(m) if !r.contains('@') => models.push(m),
            _ => {
                let m = r.split(['@', '~']).next().unwrap_or("");
                match ModelName::new(m) {
                    Ok(m) => models.push(m),
                    Err(_) => {
                        return Err(Error::InvalidArgument(format!(
                            "{r}: name a model or MODEL@ALIAS (a bare id cannot say which model to pull)"
                        )))
                    }
                }
                versions.push(r.clone());
            }
        }
    }
    let rep = remote::pull(&repo, name.as_deref(), &models, &ctx.progress())?;
    let mut data = Vec::new();
    for v in &versions {
        let id = repo.resolve(v)?;
        if let Some(d) = remote::ensure_data(&repo, &id, &[], &ctx.progress())? {
            data.push((v.clone(), d));
        }
    }
    warn_impostors(&rep.fetch.impostor_lines);
    let code = report_refused_lines(&rep.refused_lines);
    for (model, refs) in &rep.reconciled {
        eprintln!(
            "reconciled: the refs of {model} differed from the remote's plus your unpushed moves; set {}",
            refs.join(", ")
        );
    }
    for d in &rep.dropped {
        if let Some(p) = d.pruned_on_remote {
            eprintln!(
                "replaced: your unpushed {} of {} ({} -> {}) pointed at version {}, which was pruned on the remote; the remote's {} was kept{}",
                d.action,
                d.model,
                d.reference,
                d.local.map_or("(unset)".into(), |c| c.short()),
                p.short(),
                d.remote.map_or("(unset)".into(), |c| c.short()),
                if d.version_kept {
                    " (your version is kept and will be published by your next push)"
                } else {
                    ""
                }
            );
            continue;
        }
        eprintln!(
            "replaced: your unpushed {}{} of {} ({} -> {}) conflicted with the remote's ({}); the remote's was taken. Nothing was deleted: redo the move if you still want it{}",
            d.action,
            if d.message.is_empty() {
                String::new()
            } else {
                format!(" ({:?})", d.message)
            },
            d.model,
            d.reference,
            d.local.map_or("(unset)".into(), |c| c.short()),
            d.remote.map_or("(unset)".into(), |c| c.short()),
            if d.version_kept {
                format!(
                    " (your version {} is kept and will be published by your next push; only this move was replaced)",
                    d.version.map_or(String::new(), |c| c.short())
                )
            } else {
                String::new()
            }
        );
    }
    if a.json {
        let mut v = serde_json::to_value(&rep).expect("serializes");
        v["data"] = serde_json::to_value(
            data.iter()
                .map(|(r, d)| serde_json::json!({"rev": r, "objects": d.objects, "bytes": d.bytes}))
                .collect::<Vec<_>>(),
        )
        .expect("serializes");
        return Ok(Output {
            stdout: super::json(&v),
            code,
        });
    }
    let applied: usize = rep.applied.values().sum();
    ctx.note(format_args!(
        "pulled from {}: {applied} move(s) applied in {} model(s){}",
        rep.fetch.remote,
        rep.applied.len(),
        if rep.dropped.is_empty() {
            String::new()
        } else {
            format!(", {} local move(s) replaced (above)", rep.dropped.len())
        }
    ));
    for (r, d) in &data {
        ctx.note(format_args!(
            "fetched the data of {r}: {} object(s), {}",
            d.objects,
            fmt::size(d.bytes)
        ));
    }
    Ok(Output {
        stdout: String::new(),
        code,
    })
}

/// Create a store from a remote: history and metadata only; `mreg checkout` then fetches
/// exactly the data of the versions it writes.
///
/// Examples:
///   mreg clone s3://ml-models/fraud --endpoint http://10.0.0.5:8333 serving
///   cd serving && mreg checkout fraud@production --to /srv/model
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct CloneArgs {
    /// s3://BUCKET/PREFIX, file:///PATH or a directory.
    url: String,
    /// Where to create the store (its .modelreg); default: the last component of the URL.
    #[arg(value_name = "DIR")]
    directory: Option<PathBuf>,
    #[command(flatten)]
    s3: S3Opts,
    /// The remote's name in the new store.
    #[arg(long, default_value = "origin")]
    name: String,
    /// Also download every version's data (a full copy, to work offline); by default
    /// checkout fetches what it writes.
    #[arg(long)]
    data: bool,
    #[arg(long)]
    json: bool,
}

pub fn clone(ctx: &Ctx, a: CloneArgs) -> mreg::Result<Output> {
    let mut spec = a.s3.spec(&a.url);
    if let Ok(remote::config::Location::Dir(p)) = spec.location() {
        if p.is_relative() {
            spec.url = mreg::repo::normalize(&ctx.cwd.join(p))
                .display()
                .to_string();
        }
    }
    let dir = match a.directory {
        Some(d) => ctx.cwd.join(d),
        None => {
            let last = a
                .url
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|s| !s.is_empty() && *s != "." && *s != "..")
                .ok_or_else(|| Error::InvalidArgument("name the directory to clone into".into()))?;
            ctx.cwd.join(last)
        }
    };
    let (_, rep) = remote::clone(
        &remote::CloneRequest {
            spec,
            dir: dir.clone(),
            name: a.name.clone(),
            all_data: a.data,
            options: mreg::client::remote_options(&super::env()),
        },
        &ctx.progress(),
    )?;
    let code = report_refused_lines(&rep.refused_lines);
    if a.json {
        let mut v = serde_json::to_value(&rep).expect("serializes");
        v["store"] = serde_json::Value::String(dir.join(".modelreg").display().to_string());
        return Ok(Output {
            stdout: super::json(&v),
            code,
        });
    }
    ctx.note(format_args!(
        "cloned into {}: {} model(s), {} metadata object(s) ({}); {}",
        dir.display(),
        rep.applied.len(),
        rep.fetch.objects_fetched,
        fmt::size(rep.fetch.bytes_fetched),
        if a.data {
            format!(
                "{} data object(s) ({}) stored",
                rep.data_objects,
                fmt::size(rep.data_bytes)
            )
        } else {
            "file data is fetched on checkout".to_string()
        }
    ));
    Ok(Output {
        stdout: String::new(),
        code,
    })
}
