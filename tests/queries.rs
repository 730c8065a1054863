//! Registry queries, evaluations, labels and diffs, through the real binary.

use crate::common;
use crate::common::{noise, TestRepo};

use std::process::Stdio;

/// 12 versions over two models with params, metrics and evaluations.
fn populated() -> (TestRepo, Vec<String>) {
    let r = TestRepo::new();
    let mut ids = Vec::new();
    for i in 0..12u64 {
        let model = if i % 3 == 0 { "bert" } else { "mnist" };
        r.write("w.bin", &noise(2000, i));
        let lr = format!("lr={}", [0.1, 0.01, 0.001][i as usize % 3]);
        let acc = format!("acc={}", 0.80 + i as f64 * 0.01);
        let t = format!("2026-02-{:02}T12:00:00Z", i + 1);
        let mut args = vec![
            "commit", "w.bin", "--model", model, "--param", &lr, "-m", "v",
        ];
        // Version 5 has no acc metric at all.
        if i != 5 {
            args.extend(["--metric", &acc]);
        }
        if i == 7 {
            args.extend(["--label", "baseline", "--dataset", "train=w.bin"]);
        }
        ids.push(
            r.mreg_env(&args, &[("MREG_NOW", &t)])
                .ok()
                .stdout
                .trim()
                .to_string(),
        );
    }
    r.mreg(&[
        "eval",
        "add",
        &ids[4],
        "--dataset",
        "imagenet",
        "--metric",
        "top1=0.85",
    ])
    .ok();
    r.mreg(&[
        "eval",
        "add",
        &ids[8],
        "--dataset",
        "imagenet",
        "--metric",
        "top1=0.75",
    ])
    .ok();
    r.mreg(&[
        "eval",
        "add",
        &ids[10],
        "--dataset",
        "internal",
        "--metric",
        "f1=0.95",
    ])
    .ok();
    (r, ids)
}

fn list(r: &TestRepo, args: &[&str]) -> Vec<String> {
    let mut a = vec!["list", "--json"];
    a.extend_from_slice(args);
    let v = r.mreg(&a).ok().json();
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn where_expressions_filters_and_sorting() {
    let (r, ids) = populated();
    assert_eq!(list(&r, &[]).len(), 12);
    assert_eq!(
        list(&r, &[]),
        ids.iter().rev().cloned().collect::<Vec<_>>(),
        "newest first"
    );
    let got = list(&r, &["--where", "metrics.acc >= 0.9 and params.lr < 0.01"]);
    // acc >= 0.9: i = 10, 11; lr = 0.001 for i % 3 == 2: i = 11.
    assert_eq!(got, vec![ids[11].clone()]);
    let got = list(
        &r,
        &[
            "--where",
            "eval.imagenet.top1 > 0.8 or eval.internal.f1 > 0.9",
            "--sort",
            "created_at",
        ],
    );
    assert_eq!(got, vec![ids[4].clone(), ids[10].clone()]);
    let got = list(
        &r,
        &[
            "--where",
            "not (params.lr == 0.1 or params.lr == 0.01)",
            "--sort",
            "created_at",
        ],
    );
    assert_eq!(
        got,
        vec![
            ids[2].clone(),
            ids[5].clone(),
            ids[8].clone(),
            ids[11].clone()
        ]
    );
    // A version without the key never matches, with or without `not`.
    assert!(!list(&r, &["--where", "metrics.acc > 0"]).contains(&ids[5]));
    assert!(!list(&r, &["--where", "not metrics.acc > 0"]).contains(&ids[5]));
    // Sort descending by a metric: the version without it sorts last.
    let got = list(&r, &["--sort", "-metrics.acc"]);
    assert_eq!(got[0], ids[11]);
    assert_eq!(got[11], ids[5]);
    assert_eq!(
        list(&r, &["--sort", "metrics.acc", "--limit", "2"]),
        vec![ids[0].clone(), ids[1].clone()]
    );
    assert_eq!(list(&r, &["--model", "bert"]).len(), 4);
    assert_eq!(list(&r, &["--label", "baseline"]), vec![ids[7].clone()]);
    assert_eq!(
        list(&r, &["--dataset", "imagenet", "--sort", "created_at"]),
        vec![ids[4].clone(), ids[8].clone()]
    );
    assert_eq!(list(&r, &["--dataset", "train"]), vec![ids[7].clone()]);
    assert_eq!(
        list(&r, &["--since", "2026-02-11", "--sort", "created_at"]),
        vec![ids[10].clone(), ids[11].clone()]
    );
    assert_eq!(list(&r, &["--until", "2026-02-01"]), vec![ids[0].clone()]);
    r.mreg(&["alias", "set", "mnist", "production", &ids[4]])
        .ok();
    assert_eq!(list(&r, &["--alias", "production"]), vec![ids[4].clone()]);
    // Archiving what an alias points at is refused: move the alias first.
    r.mreg(&["archive", &ids[4]]).fails();
    r.mreg(&["alias", "rm", "mnist", "production"]).ok();
    r.mreg(&["archive", &ids[4]]).ok();
    assert!(
        !list(&r, &[]).contains(&ids[4]),
        "archived versions are hidden"
    );
    assert!(list(&r, &["--archived"]).contains(&ids[4]));
    let table = r
        .mreg(&[
            "list",
            "--columns",
            "id,metrics.acc,eval.imagenet.top1",
            "--model",
            "mnist",
            "--limit",
            "1",
        ])
        .ok()
        .stdout;
    assert!(
        table.starts_with("ID") && table.contains("METRICS.ACC"),
        "{table}"
    );
}

#[test]
fn best_and_compare() {
    let (r, ids) = populated();
    let b = r
        .mreg(&["best", "mnist", "--metric", "acc", "--json"])
        .ok()
        .json();
    assert_eq!(b["id"], ids[11].as_str());
    let b = r
        .mreg(&["best", "mnist", "--metric", "acc", "--min", "--json"])
        .ok()
        .json();
    assert_eq!(b["id"], ids[1].as_str());
    let b = r
        .mreg(&[
            "best",
            "mnist",
            "--metric",
            "top1",
            "--dataset",
            "imagenet",
            "--set-alias",
            "best",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(b["id"], ids[4].as_str());
    let hist = r
        .mreg(&["history", "mnist", "--alias", "best", "--json"])
        .ok()
        .json();
    assert!(hist[0]["message"]
        .as_str()
        .unwrap()
        .contains("eval.imagenet.top1"));
    r.mreg(&["best", "mnist", "--metric", "nope"]).fails();

    let c = r.mreg(&["compare", &ids[1], &ids[4], "--json"]).ok().json();
    let rows = c["rows"].as_array().unwrap();
    let lr = rows.iter().find(|x| x["key"] == "params.lr").unwrap();
    assert_eq!(lr["differs"], false);
    let acc = rows.iter().find(|x| x["key"] == "metrics.acc").unwrap();
    assert_eq!(acc["differs"], true);
    assert!(rows.iter().any(|x| x["key"] == "eval.imagenet.top1"));
    let csv = r.mreg(&["compare", &ids[1], &ids[4], "--csv"]).ok().stdout;
    assert!(csv.lines().next().unwrap().starts_with("key,"));
    assert!(csv.contains("metrics.acc,0.81,0.84"), "{csv}");
}

#[test]
fn evaluations_are_kept_under_concurrency_and_the_index_follows() {
    let (r, ids) = populated();
    assert!(list(&r, &["--where", "eval.holdout.acc > 0"]).is_empty());
    let children: Vec<_> = (0..6)
        .map(|i| {
            r.command(&[
                "eval",
                "add",
                &ids[2],
                "--dataset",
                "holdout",
                "--metric",
                &format!("acc=0.{}", 60 + i),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let show = r.mreg(&["show", &ids[2], "--json"]).ok().json();
    assert_eq!(
        show["notes"].as_array().unwrap().len(),
        6,
        "all six evaluations kept"
    );
    let commit_id = show["id"].as_str().unwrap().to_string();
    assert_eq!(commit_id, ids[2], "the commit id never changes");
    assert_eq!(
        list(&r, &["--where", "eval.holdout.acc > 0"]),
        vec![ids[2].clone()]
    );
    // The index is a cache: deleting or corrupting it changes no answer.
    let cache = r.store().join("cache/index/mnist.json");
    assert!(cache.exists());
    std::fs::write(&cache, b"{ not json").unwrap();
    assert_eq!(
        list(&r, &["--where", "eval.holdout.acc > 0"]),
        vec![ids[2].clone()]
    );
    std::fs::remove_dir_all(r.store().join("cache")).unwrap();
    assert_eq!(list(&r, &[]).len(), 12);
    // Labels after the fact.
    r.mreg(&["label", "add", &ids[3], "keeper"]).ok();
    assert_eq!(list(&r, &["--label", "keeper"]), vec![ids[3].clone()]);
    r.mreg(&["label", "rm", &ids[3], "keeper"]).ok();
    assert!(list(&r, &["--label", "keeper"]).is_empty());
    let fsck = r.mreg(&["fsck", "--json"]).ok().json();
    assert_eq!(fsck["clean"], true);
    // gc keeps evaluations with their commit.
    r.mreg(&["gc"]).ok();
    assert_eq!(
        r.mreg(&["show", &ids[2], "--json"]).ok().json()["notes"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[test]
fn query_bad_input() {
    let (r, _) = populated();
    let snap = r.snapshot();
    for (args, needle) in [
        (vec!["list", "--where", "metrics.acc >= and x"], "column 16"),
        (vec!["list", "--where", "(metrics.acc > 1"], "expected ')'"),
        (vec!["list", "--where", "foo.bar > 1"], "unknown key"),
        (
            vec!["list", "--where", "metrics.acc > 1 params.lr < 2"],
            "column 17",
        ),
        (vec!["list", "--sort", "bogus.key"], "unknown key"),
        (vec!["list", "--columns", "id,no.pe"], "unknown key"),
        (vec!["list", "--model", "nosuch"], "unknown model"),
        (
            vec![
                "eval",
                "add",
                "deadbeef",
                "--dataset",
                "d",
                "--metric",
                "a=1",
            ],
            "unknown revision",
        ),
        (
            vec![
                "eval",
                "add",
                "mnist",
                "--dataset",
                "d",
                "--metric",
                "a=high",
            ],
            "not a finite number",
        ),
        (
            vec!["eval", "add", "mnist", "--dataset", "d"],
            "at least one metric",
        ),
        (
            vec![
                "eval",
                "add",
                "mnist",
                "--dataset",
                "../x",
                "--metric",
                "a=1",
            ],
            "invalid dataset name",
        ),
        (vec!["diff", "mnist", "nosuch"], "unknown revision"),
        (vec!["compare", "mnist", "nosuch"], "unknown revision"),
    ] {
        let e = r.mreg(&args).fails();
        assert!(
            e.stderr.contains(needle),
            "{needle:?} not in:\n{}",
            e.describe()
        );
        let now = r.snapshot();
        let changed: Vec<_> = now
            .keys()
            .filter(|k| !k.starts_with("cache/") && snap.get(*k) != now.get(*k))
            .collect();
        assert!(
            changed.is_empty(),
            "store changed ({changed:?}) by:\n{}",
            e.describe()
        );
    }
}

/// Write a safetensors file: (name, dtype, shape, little-endian bytes).
fn safetensors(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut off = 0;
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [off, off + bytes.len()]}),
        );
        off += bytes.len();
    }
    let mut h = serde_json::to_vec(&header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    for (_, _, _, b) in tensors {
        out.extend(b);
    }
    out
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bf16s(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
        .collect()
}

fn f16_one_two() -> Vec<u8> {
    [0x3c00u16, 0x4000]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect()
}

#[test]
fn tensor_level_diff() {
    let r = TestRepo::new();
    let n = 300_000; // > 1 MiB of f32: several chunks per tensor
    let base: Vec<f32> = (0..n).map(|i| (i as f32 * 0.001).sin()).collect();
    let mut tuned = base.clone();
    tuned[12345] += 0.5;
    tuned[200_000] -= 0.25;
    let emb: Vec<f32> = (0..1000).map(|i| i as f32).collect();
    let v1 = safetensors(&[
        ("encoder.weight", "F32", vec![n], f32s(&base)),
        (
            "encoder.bias",
            "BF16",
            vec![4],
            bf16s(&[1.0, 2.0, 3.0, 4.0]),
        ),
        ("scale", "F16", vec![2], f16_one_two()),
        ("steps", "I32", vec![1], 7i32.to_le_bytes().to_vec()),
        ("old_name", "F32", vec![1000], f32s(&emb)),
        ("head.weight", "F32", vec![10], f32s(&[0.5; 10])),
        ("dropped", "U8", vec![3], vec![1, 2, 3]),
    ]);
    let v2 = safetensors(&[
        ("encoder.weight", "F32", vec![n], f32s(&tuned)),
        (
            "encoder.bias",
            "BF16",
            vec![4],
            bf16s(&[1.0, 2.0, 3.0, 4.0]),
        ),
        (
            "scale",
            "F16",
            vec![2],
            [0x3c00u16, 0x4200]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
        ("steps", "I32", vec![1], 9i32.to_le_bytes().to_vec()),
        ("new_name", "F32", vec![1000], f32s(&emb)),
        ("head.weight", "F32", vec![20], f32s(&[0.5; 20])),
        (
            "extra",
            "F64",
            vec![2],
            [1.0f64, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
    ]);
    r.write("model.safetensors", &v1);
    r.write("notes.txt", &noise(3 << 20, 1));
    r.commit(&[
        "model.safetensors",
        "notes.txt",
        "--model",
        "m",
        "--param",
        "lr=0.1",
        "--metric",
        "acc=0.5",
    ]);
    r.write("model.safetensors", &v2);
    let mut notes = noise(3 << 20, 1);
    notes[100] ^= 1;
    r.write("notes.txt", &notes);
    r.commit(&[
        "model.safetensors",
        "notes.txt",
        "--model",
        "m",
        "--param",
        "lr=0.05",
        "--metric",
        "acc=0.75",
    ]);

    let d = r.mreg(&["diff", "m~1", "m", "--json"]).ok().json();
    assert_eq!(d["params"][0]["key"], "lr");
    assert_eq!(d["metrics"][0]["delta"], 0.25);
    let files = d["files"].as_array().unwrap();
    let st = files
        .iter()
        .find(|f| f["path"] == "model.safetensors")
        .unwrap();
    let t = &st["tensors"];
    let names = |k: &str| -> Vec<String> {
        t[k].as_array()
            .unwrap()
            .iter()
            .map(|x| {
                x["name"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect()
    };
    assert_eq!(names("added"), vec!["extra"]);
    assert_eq!(names("removed"), vec!["dropped"]);
    assert_eq!(t["renamed"][0], serde_json::json!(["old_name", "new_name"]));
    assert_eq!(names("reshaped"), vec!["head.weight"]);
    assert_eq!(t["identical"], serde_json::json!(["encoder.bias"]));
    let changed = t["changed"].as_array().unwrap();
    let enc = changed
        .iter()
        .find(|c| c["name"] == "encoder.weight")
        .unwrap();
    assert!(
        (enc["max_abs_diff"].as_f64().unwrap() - 0.5).abs() < 1e-6,
        "{enc}"
    );
    let l2 = enc["rel_l2"].as_f64().unwrap();
    assert!(l2 > 0.0 && l2 < 0.01, "{enc}");
    let scale = changed.iter().find(|c| c["name"] == "scale").unwrap();
    assert_eq!(scale["max_abs_diff"], 1.0, "f16 2.0 -> 3.0");
    let steps = changed.iter().find(|c| c["name"] == "steps").unwrap();
    assert_eq!(steps["max_abs_diff"], 2.0);
    // A format mreg does not understand gets a byte summary, not an error.
    let txt = files.iter().find(|f| f["path"] == "notes.txt").unwrap();
    assert_eq!(txt["bytes"]["changed_chunks"], 1);
    let stat = r.mreg(&["diff", "m~1", "m", "--stat"]).ok().stdout;
    assert_eq!(stat.lines().count(), 2, "{stat}");
    assert!(stat.contains("1 renamed"), "{stat}");
    let text = r.mreg(&["diff", "m~1", "m"]).ok().stdout;
    assert!(
        text.contains("renamed   old_name -> new_name") && text.contains("lr: 0.1 -> 0.05"),
        "{text}"
    );
}

#[test]
fn log_follows_the_parent_chain_not_the_clock_and_takes_any_revision() {
    let r = TestRepo::new();
    let mut ids = Vec::new();
    // The second commit comes from a machine whose clock is a year behind.
    for (i, t) in [
        "2026-03-01T00:00:00Z",
        "2025-03-01T00:00:00Z",
        "2026-03-02T00:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        r.write("w.bin", &noise(100, i as u64));
        ids.push(
            r.mreg_env(&["commit", "w.bin", "--model", "m"], &[("MREG_NOW", t)])
                .ok()
                .stdout
                .trim()
                .to_string(),
        );
    }
    let chain = r.chain("m");
    assert_eq!(chain, vec![ids[2].clone(), ids[1].clone(), ids[0].clone()]);
    // Another model interleaves by time, without reordering m.
    r.write("o.bin", &noise(100, 9));
    r.mreg_env(
        &["commit", "o.bin", "--model", "o"],
        &[("MREG_NOW", "2026-03-01T12:00:00Z")],
    )
    .ok();
    let all: Vec<String> = r
        .mreg(&["log", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["model"] == "m")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all, chain);
    r.mreg(&["alias", "set", "m", "production", &ids[1]]).ok();
    let from: Vec<String> = r
        .mreg(&["log", "m@production", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(from, vec![ids[1].clone(), ids[0].clone()]);
    r.mreg(&["log", "m~1", "--oneline"]).ok();
}

#[test]
fn list_valued_params_show_compare_and_filter() {
    let r = TestRepo::new();
    for (i, h) in ["[32,16]", "[64,16]"].iter().enumerate() {
        r.write("w.bin", &noise(100, i as u64));
        r.commit(&[
            "w.bin",
            "--model",
            "m",
            "--param",
            &format!("model.hidden={h}"),
        ]);
    }
    let c = r.mreg(&["compare", "m~1", "m", "--json"]).ok().json();
    let row = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key"] == "params.model.hidden")
        .unwrap()
        .clone();
    assert_eq!(row["differs"], true, "{c}");
    assert_eq!(row["values"], serde_json::json!(["[32,16]", "[64,16]"]));
    let t = r
        .mreg(&["list", "--columns", "id,params.model.hidden"])
        .ok()
        .stdout;
    assert!(t.contains("[32,16]") && t.contains("[64,16]"), "{t}");
    let hits = r
        .mreg(&[
            "list",
            "--where",
            "params.model.hidden == [32, 16]",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
    let e = r
        .mreg(&["list", "--where", "params.model.hidden == [32"])
        .fails();
    assert!(e.stderr.contains("unterminated list"), "{}", e.describe());
}

#[test]
fn cat_object_of_a_file_id_says_what_it_is() {
    let r = TestRepo::new();
    // Several chunks, so the file's id is no chunk's id.
    let data = noise(6 << 20, 1);
    r.write("w.bin", &data);
    r.commit(&["w.bin", "--model", "m"]);
    let fid = common::b3(&data);
    let e = r.mreg(&["cat-object", &fid]).fails();
    assert!(
        e.stderr.contains("blake3 of file w.bin"),
        "{}",
        e.describe()
    );
    assert!(
        e.stderr.contains("hint:") && !e.stderr.contains("fsck"),
        "{}",
        e.describe()
    );
    let e = r.mreg(&["cat-object", "0000000000"]).fails();
    assert!(
        e.stderr.contains("no object") && e.stderr.contains("hint:"),
        "{}",
        e.describe()
    );
}

#[test]
fn lineage_counts_match_the_graph_it_draws() {
    let r = TestRepo::new();
    r.write("data.csv", b"a\n1\n");
    for i in 0..3u64 {
        r.write("w.bin", &noise(100, i));
        r.commit(&["w.bin", "--model", "m", "--dataset", "train=data.csv"]);
    }
    let g = r.mreg(&["lineage", "m~1", "--json"]).ok().json();
    let (n, e) = (
        g["nodes"].as_array().unwrap().len(),
        g["edges"].as_array().unwrap().len(),
    );
    let text = r.mreg(&["lineage", "m~1"]).ok().stdout;
    assert!(
        text.contains(&format!("({n} nodes, {e} edges")),
        "{text}\n{g}"
    );
    let dot = r.mreg(&["lineage", "m~1", "--dot"]).ok().stdout;
    assert_eq!(dot.matches(" -> ").count(), e, "{dot}");
}

#[test]
fn diff_says_when_only_safetensors_metadata_changed() {
    let r = TestRepo::new();
    let st = |meta: &str| {
        let header = format!(
            r#"{{"__metadata__":{{"note":"{meta}"}},"w":{{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}}}"#
        );
        let mut f = (header.len() as u64).to_le_bytes().to_vec();
        f.extend_from_slice(header.as_bytes());
        f.extend_from_slice(&[0u8; 16]);
        f
    };
    r.write("m.safetensors", &st("one"));
    r.commit(&["m.safetensors", "--model", "m"]);
    r.write("m.safetensors", &st("two"));
    r.commit(&["m.safetensors", "--model", "m"]);
    let d = r.mreg(&["diff", "m~1", "m"]).ok().stdout;
    assert!(d.contains("only __metadata__ changed (note)"), "{d}");
}
