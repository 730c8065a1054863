//! Pickles that would run code: found at commit (never loaded), recorded in the version,
//! shown, and refused by promote and `alias set production` unless `--allow-unsafe`
//! (recorded in the history); `mreg scan` for files not committed. The pickles are written
//! here byte for byte (what Python's pickle module writes for them), so the tests need no
//! Python; the comparison with picklescan, modelscan and fickling on a generated corpus is
//! `benches/pickle_scan.py`.

use crate::common::*;

/// `pickle.dumps(P(), protocol=0)` where `P.__reduce__` returns `(os.system, ("true",))`.
const OS_SYSTEM_P0: &[u8] = b"cposix\nsystem\np0\n(Vtrue\np1\ntp2\nRp3\n.";

/// A PyTorch-style `data.pkl`: an OrderedDict whose value is rebuilt by
/// `torch._utils._rebuild_tensor_v2` from a persistent storage id (protocol 2).
const TORCH_STATE_DICT: &[u8] = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x06\x00\x00\x00weightq\x02ctorch._utils\n_rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000q\x06X\x03\x00\x00\x00cpuq\x07K\x04tq\x08QK\x00K\x04\x85q\tK\x01\x85q\n\x89ccollections\nOrderedDict\nq\x0b)Rq\x0ctq\rRq\x0es.";

/// A zip archive of stored members (what `torch.save` writes).
fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let mut local = Vec::new();
        local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        local.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        local.extend_from_slice(&crc.to_le_bytes());
        local.extend_from_slice(&(data.len() as u32).to_le_bytes());
        local.extend_from_slice(&(data.len() as u32).to_le_bytes());
        local.extend_from_slice(&(name.len() as u16).to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes());
        local.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&local);
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_off = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_malicious_pickle_is_found_at_commit_and_kept_out_of_production() {
    let r = TestRepo::new();
    r.write("model.pkl", OS_SYSTEM_P0);
    let out = r
        .mreg(&["commit", "model.pkl", "--model", "m", "-m", "downloaded"])
        .ok();
    assert!(
        out.stderr.contains("posix.system (dangerous)"),
        "{}",
        out.stderr
    );
    let id = out.stdout.trim().to_string();
    let shown = r.mreg(&["show", &id, "--json"]).ok().json();
    assert_eq!(shown["unsafe_pickles"][0]["callable"], "posix.system");
    assert!(r
        .mreg(&["show", &id])
        .ok()
        .stdout
        .contains("UNSAFE PICKLES"));
    // Refused into production, with the reason; nothing moves.
    let e = r.mreg(&["promote", "m", &id]).fails();
    assert!(e.stderr.contains("would run code"), "{}", e.stderr);
    assert!(e.stderr.contains("--allow-unsafe"), "{}", e.stderr);
    r.mreg(&["alias", "set", "m", "production", &id]).fails();
    r.mreg(&["show", "m@production"]).fails();
    // Another alias is fine; production with --allow-unsafe, recorded in the history.
    r.mreg(&["alias", "set", "m", "staging", &id]).ok();
    r.mreg(&[
        "promote",
        "m",
        &id,
        "--allow-unsafe",
        "-m",
        "audited by hand",
    ])
    .ok();
    let h = r.mreg(&["history", "m", "--json"]).ok().json();
    let line = h
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "promote")
        .unwrap();
    assert!(line.to_string().contains("posix.system"), "{line}");
    // The dashboard says so too.
    let repo = mreg::Repo::discover(r.path()).unwrap();
    let page = mreg::web::handle(&repo, "GET", &format!("/version/{id}"));
    assert!(String::from_utf8_lossy(&page.body).contains("Unsafe pickles"));
}

#[test]
fn a_torch_style_checkpoint_passes_and_archives_are_opened_to_the_pickle() {
    let r = TestRepo::new();
    let weights = noise(8192, 3);
    let good = zip(&[
        ("archive/data.pkl", TORCH_STATE_DICT),
        ("archive/data/0", &weights),
        ("archive/version", b"3\n"),
    ]);
    r.write("model.pt", &good);
    let out = r.mreg(&["commit", "model.pt", "--model", "m"]).ok();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    r.mreg(&["promote", "m", "m"]).ok();
    // The same archive with the payload in data.pkl, and nested one archive deeper.
    let bad = zip(&[
        ("archive/data.pkl", OS_SYSTEM_P0),
        ("archive/data/0", &weights),
    ]);
    let nested = zip(&[("outer/inner.zip", &bad)]);
    r.write("bad.pt", &bad);
    r.write("nested.ckpt", &nested);
    let s = r.mreg(&["scan", "bad.pt", "nested.ckpt", "model.pt", "--json"]);
    assert_eq!(s.code, 1, "{}", s.stderr);
    let v = s.json();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{v}");
    assert_eq!(findings[0]["member"], "archive/data.pkl");
    assert_eq!(findings[1]["member"], "outer/inner.zip/archive/data.pkl");
    // Clean files: exit 0.
    let ok = r.mreg(&["scan", "model.pt"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    // A directory is scanned whole; garbage that claims to be a pickle is not passed.
    r.write("dir/a.pkl", b"\x80\x02\xff garbage");
    let g = r.mreg(&["scan", "dir", "--json"]);
    assert_eq!(g.code, 1);
    assert_eq!(g.json()["findings"][0]["kind"], "unreadable");
}
