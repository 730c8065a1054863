//! Issue 31 (a newcomer's first hour): small frictions a new user hit, each with a test.

use crate::common::{noise, TestRepo};

#[test]
fn best_by_a_loss_ranks_lowest_first_and_says_the_direction() {
    let r = TestRepo::new();
    let mut ids = Vec::new();
    for (i, loss) in ["0.9", "0.2", "0.5"].iter().enumerate() {
        r.write("m.bin", &noise(1000, i as u64));
        ids.push(r.commit(&[
            "m.bin",
            "--model",
            "m",
            "-q",
            "--metric",
            &format!("loss={loss}"),
        ]));
    }
    let out = r.mreg(&["best", "m", "--metric", "loss"]).ok().stdout;
    assert!(out.starts_with(&ids[1]), "{out}");
    assert!(out.contains("lower is better"), "{out}");
    // An explicit --max is obeyed, and said.
    let out = r
        .mreg(&["best", "m", "--metric", "loss", "--max"])
        .ok()
        .stdout;
    assert!(
        out.starts_with(&ids[0]) && out.contains("higher is better"),
        "{out}"
    );
}

#[test]
fn log_on_an_empty_store_says_so_on_stderr_only() {
    let r = TestRepo::new();
    let out = r.mreg(&["log"]).ok();
    assert!(out.stdout.is_empty(), "{}", out.describe());
    assert!(out.stderr.contains("no versions yet"), "{}", out.describe());
}

#[test]
fn a_refused_push_does_not_also_claim_it_pushed() {
    let remote = tempfile::tempdir().unwrap();
    let url = remote.path().to_str().unwrap().to_string();
    let a = TestRepo::new();
    a.write("m.bin", &noise(1000, 1));
    let v1 = a.commit(&["m.bin", "--model", "m", "-q"]);
    a.write("m.bin", &noise(1000, 2));
    let v2 = a.commit(&["m.bin", "--model", "m", "-q"]);
    a.mreg(&["remote", "add", "origin", &url]).ok();
    a.mreg(&["push"]).ok();
    let b = TestRepo::bare();
    b.mreg(&["clone", &url, "."]).ok();
    a.mreg(&["alias", "set", "m", "production", &v1]).ok();
    a.mreg(&["push"]).ok();
    b.mreg(&["alias", "set", "m", "production", &v2]).ok();
    let e = b.mreg(&["push"]).fails();
    assert!(!e.stderr.contains("pushed to"), "{}", e.describe());
}

#[test]
fn gc_says_the_expiry_as_it_was_set() {
    let r = TestRepo::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        r.write("m.bin", &noise(1000, i));
        ids.push(r.commit(&["m.bin", "--model", "m", "-q"]));
    }
    r.mreg(&["alias", "set", "m", "production", &ids[0]]).ok();
    r.mreg(&["alias", "set", "m", "production", &ids[2]]).ok();
    let out = r.mreg(&["gc", "--keep-last", "1", "--dry-run"]).ok().stdout;
    assert!(out.contains("within 90 days"), "{out}");
    assert!(!out.contains("2months"), "{out}");
}

/// Issue 31: a mistyped model, alias or revision gets "did you mean", and a far one none.
#[test]
fn a_typo_in_a_model_or_alias_name_suggests_the_close_one() {
    let r = TestRepo::new();
    r.write("m.bin", b"v1");
    let v = r.commit(&["m.bin", "--model", "clf", "-q"]);
    r.mreg(&["promote", "clf", &v]).ok();
    for (args, want) in [
        (vec!["show", "clff"], "(did you mean clf?)"),
        (
            vec!["show", "clf@prodution"],
            "(did you mean clf@production?)",
        ),
        (
            vec!["show", "clff@production"],
            "(did you mean clf@production?)",
        ),
        (
            vec!["list", "--model", "clff"],
            "unknown model \"clff\" (did you mean clf?)",
        ),
        (vec!["log", "cfl"], "(did you mean clf?)"),
    ] {
        let e = r.mreg(&args).fails();
        assert!(e.stderr.contains(want), "{args:?}: {}", e.stderr);
    }
    let e = r.mreg(&["show", "resnet"]).fails();
    assert!(!e.stderr.contains("did you mean"), "{}", e.stderr);
}

/// Issue 31: committing bytes identical to the parent says so; `status` says which version
/// of each model the work tree holds, and whether it is the latest.
#[test]
fn identical_commits_and_an_old_checkout_are_said_plainly() {
    let r = TestRepo::new();
    r.write("m.bin", b"v1");
    let v1 = r.commit(&["m.bin", "--model", "m", "-q"]);
    let same = r
        .mreg(&["commit", "m.bin", "--model", "m", "-m", "same bytes"])
        .ok();
    assert!(
        same.stderr
            .contains(&format!("identical to the parent version {}", &v1[..12])),
        "{}",
        same.stderr
    );
    r.write("m.bin", b"v3");
    r.commit(&["m.bin", "--model", "m", "-q"]);
    r.mreg(&["checkout", "m~2"]).ok();
    let s = r.mreg(&["status"]).ok().stdout;
    assert!(
        s.contains(&format!(
            "m: the work tree holds #1 {}, not the latest",
            &v1[..12]
        )),
        "{s}"
    );
    let j = r.mreg(&["status", "--json"]).ok().json();
    assert_eq!(j["versions"][0]["version"], 1);
    assert_eq!(j["versions"][0]["is_head"], false);
    r.mreg(&["checkout", "m"]).ok();
    assert!(r.mreg(&["status"]).ok().stdout.contains("#3"));
}
