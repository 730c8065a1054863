//! Regression tests for issue 23, defect 1: a lost history log made gc delete versions.
//! A commit object whose model's history does not name it is evidence of damage, not
//! garbage: fsck reports it (non-zero exit, the model named, what to do) and gc keeps it
//! and its data. Only an interrupted commit (its pending marker says so) older than the
//! grace period, in an intact history, is removed.

use crate::common::{noise, TestRepo};

/// Three versions of `m` (300 kB each) and one of `other`; returns m's ids, oldest first.
fn store_with_versions(r: &TestRepo) -> Vec<String> {
    let ids = (0..3)
        .map(|i| {
            r.write("m.bin", &noise(300_000, i));
            r.commit(&["m.bin", "--model", "m", "-m", "v", "-q"])
        })
        .collect();
    r.write("o.bin", &noise(300_000, 99));
    r.commit(&["o.bin", "--model", "other", "-q"]);
    ids
}

fn log_path(r: &TestRepo, model: &str) -> std::path::PathBuf {
    r.store().join("models").join(model).join("log")
}

/// Each id checks out byte-identical to what was committed.
#[track_caller]
fn all_check_out(r: &TestRepo, ids: &[String]) {
    for (i, id) in ids.iter().enumerate() {
        let dir = r.path().join(format!("co-{i}"));
        r.mreg(&["checkout", id, "--to", dir.to_str().unwrap()])
            .ok();
        assert_eq!(
            std::fs::read(dir.join("m.bin")).unwrap(),
            noise(300_000, i as u64)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// fsck fails, names the model and the version, and says what to do.
#[track_caller]
fn fsck_reports_lost_versions(r: &TestRepo, ids: &[String]) {
    let out = r.mreg(&["fsck"]);
    assert_ne!(out.code, 0, "fsck must fail: {}", out.describe());
    for id in ids {
        assert!(
            out.stdout.contains(&id[..12]) || out.stderr.contains(&id[..12]),
            "fsck does not name {id}: {}",
            out.describe()
        );
    }
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("model m"), "{}", out.describe());
    assert!(all.contains("mreg tag recovered-"), "{}", out.describe());
}

/// gc (plain, and with a zero grace period and retention) deletes nothing of m: it keeps
/// the `lost` versions as commits no history names, and every version checks out.
#[track_caller]
fn gc_keeps_every_version(r: &TestRepo, ids: &[String], lost: &[String]) {
    for args in [
        vec!["gc", "--json"],
        vec!["gc", "--grace", "0s", "--json"],
        vec!["gc", "--grace", "0s", "--keep-last", "1", "--json"],
    ] {
        let plan = r.mreg(&args).ok().json();
        assert_eq!(plan["bytes_freed"], 0, "{args:?}: {plan}");
        assert!(
            plan["delete"].as_array().unwrap().is_empty(),
            "{args:?}: {plan}"
        );
        let kept: Vec<&str> = plan["orphan_commits"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["remove"] == false)
            .map(|o| o["id"].as_str().unwrap())
            .collect();
        for id in lost {
            assert!(kept.contains(&id.as_str()), "{args:?}: {plan}");
        }
    }
    all_check_out(r, ids);
}

#[test]
fn issue23_missing_history_log_is_damage_and_gc_keeps_the_versions() {
    let r = TestRepo::new();
    let ids = store_with_versions(&r);
    std::fs::remove_file(log_path(&r, "m")).unwrap();
    fsck_reports_lost_versions(&r, &ids);
    gc_keeps_every_version(&r, &ids, &ids);
}

#[test]
fn issue23_empty_history_log_is_damage_and_gc_keeps_the_versions() {
    let r = TestRepo::new();
    let ids = store_with_versions(&r);
    std::fs::write(log_path(&r, "m"), b"").unwrap();
    fsck_reports_lost_versions(&r, &ids);
    gc_keeps_every_version(&r, &ids, &ids);
}

#[test]
fn issue23_truncated_history_log_is_damage_and_tag_recovers_the_version() {
    let r = TestRepo::new();
    let ids = store_with_versions(&r);
    // Lose the last two lines (a half-copied store): v1 and v2 are no longer named.
    let log = std::fs::read_to_string(log_path(&r, "m")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    std::fs::write(log_path(&r, "m"), format!("{}\n", lines[0])).unwrap();
    fsck_reports_lost_versions(&r, &ids[1..]);
    gc_keeps_every_version(&r, &ids, &ids[1..]);
    // The hint works: a tag names v2 again (and v1, its parent).
    r.mreg(&["tag", "recovered-v2", &ids[2]]).ok();
    r.fsck_clean();
    all_check_out(&r, &ids);
}

#[test]
fn issue23_interrupted_commit_is_a_warning_and_goes_only_after_the_grace_period() {
    let r = TestRepo::new();
    let ids = store_with_versions(&r);
    // An interrupted commit: the object and its pending marker, no history line. (Made by
    // dropping the last line of a real commit and restoring the marker it had.)
    let log = std::fs::read_to_string(log_path(&r, "m")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    std::fs::write(log_path(&r, "m"), format!("{}\n{}\n", lines[0], lines[1])).unwrap();
    let pending = r.store().join("pending");
    std::fs::create_dir_all(&pending).unwrap();
    std::fs::write(pending.join(&ids[2]), "m").unwrap();
    let f = r.mreg(&["fsck", "--json"]).ok().json();
    assert_eq!(f["clean"], true, "{f}");
    assert!(
        f["warnings"].to_string().contains("interrupted commit"),
        "{f}"
    );
    // Within the grace period: kept with its data.
    let plan = r.mreg(&["gc", "--json"]).ok().json();
    assert_eq!(plan["bytes_freed"], 0, "{plan}");
    r.mreg(&["checkout", &ids[2], "--to", "young"]).ok();
    // Past it (grace 0s): the commit and its chunks go; the marker too.
    let plan = r.mreg(&["gc", "--grace", "0s", "--json"]).ok().json();
    assert!(
        plan["bytes_freed"].as_u64().unwrap() > 250_000,
        "the chunks of the interrupted commit go: {plan}"
    );
    assert!(!pending.join(&ids[2]).exists());
    r.fsck_clean();
    all_check_out(&r, &ids[..2]);
}

#[test]
fn a_successful_commit_leaves_no_pending_marker() {
    let r = TestRepo::new();
    store_with_versions(&r);
    let left: Vec<_> = std::fs::read_dir(r.store().join("pending"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
