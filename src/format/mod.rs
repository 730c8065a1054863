//! What mreg serializes about a version: commits, recipes (how a version was made), and the
//! params and metrics files users hand to `commit` and `run`.

pub mod commit;
pub mod datafile;
pub mod recipe;
pub mod time;

/// Bytes as a short human size in binary units (`512 B`, `4.0 KiB`, `1.2 GiB`), as every
/// client shows sizes.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
