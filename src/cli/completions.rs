//! `mreg completions`: shell completion scripts.

use clap::CommandFactory;

use super::{Cli, Ctx, Output};

/// Print a completion script for a shell.
///
/// Examples:
///   mreg completions bash > ~/.local/share/bash-completion/completions/mreg
///   mreg completions zsh > "${fpath[1]}/_mreg"
///   mreg completions fish > ~/.config/fish/completions/mreg.fish
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

pub fn run(_ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut Cli::command(), "mreg", &mut out);
    Ok(Output::ok(String::from_utf8_lossy(&out).into_owned()))
}
