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

/// Parse a size: `512MiB`, `20GiB`, `1.5GB`, `4096` (bytes). Binary units (KiB, MiB,
/// GiB, TiB) are powers of 1024, decimal ones (KB, MB, GB, TB) of 1000.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        _ => return None,
    };
    let v = n * mult;
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_parse_in_binary_and_decimal_units() {
        assert_eq!(super::parse_size("20GiB"), Some(20 << 30));
        assert_eq!(super::parse_size("1.5 GB"), Some(1_500_000_000));
        assert_eq!(super::parse_size("4096"), Some(4096));
        assert_eq!(super::parse_size("0"), Some(0));
        assert_eq!(super::parse_size("lots"), None);
        assert_eq!(super::parse_size("-1GiB"), None);
    }
}
