//! `mreg ui` and `mreg report`: the dashboard and static reports.

use std::net::TcpListener;
use std::path::PathBuf;

use mreg::web::report::{report, Format};
use mreg::Error;

use super::{Ctx, Output};

/// Serve a read-only dashboard of this store in the browser.
///
/// Pages: every model (head, aliases, versions, best value and trend of its policy metric);
/// one model (metric chart over versions with alias moves marked, alias timeline, version
/// table with a `--where` filter and column choice); one version (params, metrics,
/// evaluations, files, datasets, code lineage and patch, curves, reproductions, lineage
/// graph); compare (side by side, differences only, overlaid curves, tensor diff); history
/// (every ref move, by alias, "what was production on that date"). JSON under /api/.
///
/// Runs in progress (`mreg run`, Python `repo.run()`) show on their model's page with their
/// curves so far, redrawn every few seconds, and link the version they become.
///
/// Read-only unless --write: then the pages also promote, roll back, set and remove
/// aliases, label and evaluate, each move recorded in the history with your name and the
/// message typed in the page. Actions need the random token in the URL printed at start
/// (or `Authorization: Bearer TOKEN` for scripts: POST /api/models/MODEL/promote with
/// {"rev", "message", "expect"}; also rollback, alias, label, eval), are refused from
/// other sites, and a move whose `expect` is stale is refused (409), so a page left open
/// never overwrites a newer promotion.
///
/// Everything is served from the binary on 127.0.0.1: no script, no request to any other
/// host. Stop it with Ctrl-C.
///
/// Examples:
///   mreg ui                   # http://127.0.0.1:7878
///   mreg ui --port 0 --open   # any free port, opened in the browser
///   mreg ui --write           # http://127.0.0.1:7878/?token=…  (promote from the page)
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 7878)]
    port: u16,
    /// Address to listen on. Anything but loopback exposes the store's metadata to the
    /// network (read-only, no authentication).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Open the dashboard in the default browser (xdg-open / open).
    #[arg(long)]
    open: bool,
    /// Also take actions (promote, rollback, aliases, labels, evaluations), behind a random
    /// token printed in the URL. Loopback addresses only.
    #[arg(long)]
    write: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let ip: std::net::IpAddr = a.host.parse().map_err(|_| Error::BadValue {
        option: "--host",
        value: a.host.clone(),
        expected: "not an IP address (e.g. 127.0.0.1 or ::1)".into(),
    })?;
    if a.write && !ip.is_loopback() {
        return Err(Error::BadValue {
            option: "--host",
            value: a.host.clone(),
            expected: "a loopback address with --write (127.0.0.1 or ::1): actions over the network would travel unencrypted; reach a remote machine's dashboard through an SSH tunnel (ssh -L 7878:127.0.0.1:7878 HOST)".into(),
        });
    }
    let write = if a.write {
        Some(mreg::web::WriteAccess::new(
            super::author(),
            super::env()
                .get("MREG_NOW")
                .map(|_| super::now())
                .transpose()?,
        )?)
    } else {
        None
    };
    if !ip.is_loopback() {
        eprintln!(
            "warning: serving on {ip}: anyone who can reach this address can read the store's metadata (no authentication)"
        );
    }
    let listener = TcpListener::bind((ip, a.port))
        .map_err(|e| Error::io("listening on", format!("{ip}:{}", a.port), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the address of", a.host.clone(), e))?;
    let url = match &write {
        Some(w) => format!("http://{addr}/?token={}", w.token()),
        None => format!("http://{addr}/"),
    };
    // Always printed (also with -q): scripts and tests read the address from it.
    eprintln!(
        "mreg ui: serving {} on {url} (Ctrl-C stops){}",
        repo.store_dir().display(),
        match &write {
            Some(w) => format!(
                "; actions recorded as {} (the token in this URL allows them: keep it private)",
                w.author
            ),
            None => String::new(),
        }
    );
    if a.open {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        if let Err(e) = std::process::Command::new(opener).arg(&url).spawn() {
            eprintln!("warning: could not open a browser ({opener}: {e}); open {url}");
        }
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    mreg::web::serve(&repo, &listener, &stop, write.as_ref())?;
    Ok(Output::ok(String::new()))
}

/// Write a self-contained report of one or several versions.
///
/// Summary, params and metrics side by side (differences marked), evaluations, curves,
/// lineage, and the diff between consecutive versions (down to tensors). Markdown renders
/// on a code forge (paste it into a pull request); HTML opens offline, with charts and the
/// lineage graph embedded as SVG.
///
/// Examples:
///   mreg report clf@candidate clf@production > review.md
///   mreg report clf --format html -o clf.html
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ReportArgs {
    /// The versions to report on, in order.
    #[arg(required = true)]
    revs: Vec<String>,
    /// md (Markdown) or html.
    #[arg(long, default_value = "md", value_parser = ["md", "html"])]
    format: String,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn report_cmd(ctx: &Ctx, a: ReportArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let ids = repo.resolve_all(&a.revs)?;
    let format = if a.format == "html" {
        Format::Html
    } else {
        Format::Markdown
    };
    let text = report(&repo, &ids, format, &super::now()?.to_string())?;
    match a.output {
        Some(path) => {
            let path = ctx.cwd.join(path);
            std::fs::write(&path, text).map_err(|e| Error::io("writing", &path, e))?;
            ctx.note(format_args!("wrote {}", path.display()));
            Ok(Output::ok(String::new()))
        }
        None => Ok(Output::ok(text)),
    }
}
