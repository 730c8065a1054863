"""The Python API on real stores and real safetensors files."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import mreg
from conftest import cli, weights, write_model


def test_commit_and_show_record_params_metrics_datasets_labels_and_files(repo: mreg.Repo, work: Path) -> None:
    write_model(work / "models" / "clf.safetensors", seed=1)
    (work / "data").mkdir()
    (work / "data" / "train.csv").write_text("x,y\n1,2\n")
    c = repo.commit(
        "models/clf.safetensors",
        model="clf",
        message="baseline",
        params={"lr": 0.01, "layers": [64, 10], "opt": {"name": "adam"}},
        metrics={"acc": 0.91, "loss": np.float32(0.25)},
        datasets={"train": "data/train.csv"},
        labels=["baseline"],
        alias="candidate",
    )
    assert len(c.id) == 64 and c.model == "clf" and c.parents == []
    s = repo.show("clf")
    assert s == c
    assert s.params == {"lr": 0.01, "layers": [64, 10], "opt": {"name": "adam"}}
    assert s.metrics == {"acc": 0.91, "loss": 0.25}
    assert [d.name for d in s.datasets] == ["train"] and s.datasets[0].size == 8
    assert s.labels == ["baseline"]
    assert s.author == "Ada Tester <ada@example.com>"
    assert s.created_at.tzinfo is not None
    assert [f.path for f in s.files] == ["models/clf.safetensors"]
    assert s.files[0].size == (work / "models" / "clf.safetensors").stat().st_size
    assert s.aliases == ["candidate"] and "head" in s.refs
    assert s.environment["os"] and s.git is not None and s.git.present is False
    # Revisions in every form the CLI takes.
    for rev in ["clf", "clf@candidate", c.id[:10], c.id]:
        assert repo.resolve(rev) == c.id


def test_load_returns_the_file_and_a_second_load_reads_nothing(repo: mreg.Repo, work: Path) -> None:
    src = write_model(work / "models" / "m.safetensors", seed=2)
    c = repo.commit(src, model="m")
    p = repo.load("m")
    assert p.name == "m.safetensors" and p.read_bytes() == src.read_bytes()
    np.testing.assert_array_equal(load_file(str(p))["layer1.weight"], weights(2)["layer1.weight"])
    assert (p.stat().st_mode & 0o222) == 0, "cached files are read-only"
    # The second call must not read the file data: corrupt every chunk in the store (a
    # read would fail verification) and load again.
    for o in (repo.store_dir / "objects").rglob("*"):
        if o.is_file() and o.stat().st_size > 1000:
            o.chmod(0o644)
            o.write_bytes(b"\0" * o.stat().st_size)
    mtime = p.stat().st_mtime_ns
    again = repo.load(c.id)
    assert again == p and again.read_bytes() == src.read_bytes()
    assert p.stat().st_mtime_ns == mtime, "nothing was rewritten"


def test_load_verify_rewrites_a_cached_file_someone_changed(repo: mreg.Repo, work: Path) -> None:
    src = write_model(work / "m.safetensors", seed=4)
    repo.commit(src, model="m")
    p = repo.load("m")
    p.chmod(0o644)
    p.write_bytes(b"tampered")
    assert repo.load("m").read_bytes() == b"tampered", "without verify the cache is trusted"
    fixed = repo.load("m", verify=True)
    assert fixed == p and fixed.read_bytes() == src.read_bytes()
    assert (fixed.stat().st_mode & 0o222) == 0


def test_load_of_a_directory_version_and_into_a_chosen_directory(repo: mreg.Repo, work: Path) -> None:
    d = work / "models" / "bert"
    write_model(d / "model.safetensors", seed=3)
    (d / "config.json").write_text('{"hidden": 64}')
    repo.commit(d, model="bert")
    p = repo.load("bert")
    assert p.is_dir()
    assert sorted(x.name for x in p.iterdir()) == ["config.json", "model.safetensors"]
    assert (p / "config.json").read_text() == '{"hidden": 64}'
    out = work.parent / "serving"
    q = repo.load("bert", to=out)
    assert q == out and (out / "model.safetensors").read_bytes() == (d / "model.safetensors").read_bytes()


def test_load_by_alias_after_promote_and_rollback(repo: mreg.Repo, work: Path) -> None:
    f = work / "model.safetensors"
    write_model(f, seed=10)
    v1 = repo.commit(f, model="m", metrics={"acc": 0.8})
    write_model(f, seed=11)
    v2 = repo.commit(f, model="m", metrics={"acc": 0.9})
    p = repo.promote("m", v1.id, message="first")
    assert p == mreg.Promotion("m", v1.id, None, True)
    p = repo.promote("m", v2.id, message="better")
    assert p.production == v2.id and p.rollback == v1.id
    assert repo.load("m@production").read_bytes() == f.read_bytes()
    r = repo.rollback("m", message="regression")
    assert r.production == v1.id and r.rollback == v2.id
    assert repo.resolve("m@production") == v1.id
    moves = repo.history("m", alias="production")
    assert [e.action for e in moves] == ["promote", "promote", "rollback"]
    assert moves[-1].message == "regression" and moves[-1].author == "Ada Tester <ada@example.com>"
    assert any(ch.name == "alias:production" and ch.old == v2.id and ch.new == v1.id for ch in moves[-1].changes)


def test_promote_and_rollback_expect_compare_and_swap(repo: mreg.Repo, work: Path) -> None:
    f = write_model(work / "m.safetensors", seed=30)
    a = repo.commit(f, model="m")
    write_model(f, seed=31)
    b = repo.commit(f, model="m")
    assert repo.promote("m", a.id, expect="none", message="first").moved
    with pytest.raises(mreg.ConflictError) as e:
        repo.promote("m", b.id, expect=b.id)
    assert e.value.code == "AliasMoved"
    assert repo.resolve("m@production") == a.id, "a lost compare-and-swap changes nothing"
    p = repo.promote("m", b.id, expect=a.id, message="better")
    assert p.production == b.id and p.rollback == a.id
    with pytest.raises(mreg.ConflictError):
        repo.rollback("m", expect=a.id)
    assert repo.rollback("m", expect=b.id).production == a.id


def test_policy_is_set_read_and_cleared(repo: mreg.Repo, work: Path) -> None:
    assert repo.policy("m") is None
    repo.set_policy("m", "acc")
    f = write_model(work / "m.safetensors", seed=50)
    a = repo.commit(f, model="m", metrics={"acc": 0.7})
    assert repo.resolve("m@candidate") == a.id
    repo.set_policy("m", "loss", minimize=True, message="rank by loss")
    assert repo.policy("m") == {"metric": "loss", "goal": "min"}
    assert repo.history("m")[-1].message == "rank by loss"
    repo.set_policy("m", None)
    assert repo.policy("m") is None


def test_list_by_several_labels_and_archived_alone(repo: mreg.Repo, work: Path) -> None:
    f = write_model(work / "m.safetensors", seed=40)
    a = repo.commit(f, model="m", labels=["sweep", "gpu"])
    write_model(f, seed=41)
    b = repo.commit(f, model="m", labels=["sweep"])
    assert [v.id for v in repo.list(label=["sweep", "gpu"])] == [a.id]
    assert {v.id for v in repo.list(label="sweep")} == {a.id, b.id}
    assert repo.archive(b.id) and not repo.archive(b.id)
    assert [v.id for v in repo.list(archived="only")] == [b.id]
    assert repo.add_label(b.id, "gpu")
    assert {v.id for v in repo.list(label=["sweep", "gpu"], archived=True)} == {a.id, b.id}
    assert repo.remove_label(b.id, "gpu") and repo.unarchive(b.id)
    assert [v.id for v in repo.list(archived="only")] == []
    with pytest.raises(mreg.InvalidArgumentError):
        repo.list(archived="yes")


def test_prune_frees_one_version_and_the_query_language_knows_labels_and_numbers(
    repo: mreg.Repo, work: Path
) -> None:
    f = write_model(work / "m.safetensors", seed=60)
    a = repo.commit(f, model="m", labels=["leaked"])
    write_model(f, seed=61)
    b = repo.commit(f, model="m")
    assert [v.id for v in repo.list(where="labels == leaked and version == 1")] == [a.id]
    assert [v.version for v in repo.list(model="m")] == [2, 1]
    plan = repo.prune(a.id, dry_run=True)
    assert plan["loses_data"] and repo.show(a.id).pruned is False
    repo.prune(a.id, message="leaked credentials in the weights")
    assert repo.show(a.id).pruned and repo.history("m")[-1].message.startswith("leaked")
    with pytest.raises(mreg.Error):
        repo.prune(b.id)  # the head: refused
    assert repo.show("m#2").id == b.id


def test_describe_a_model_and_list_it_with_its_labels(repo: mreg.Repo, work: Path) -> None:
    repo.commit(write_model(work / "m.safetensors", seed=70), model="m")
    d = repo.describe("m", "Card-fraud scorer", add_labels=["tabular"], message="doc")
    assert d == {"model": "m", "description": "Card-fraud scorer", "labels": ["tabular"]}
    (info,) = repo.models()
    assert info.description == "Card-fraud scorer" and info.labels == ["tabular"]
    assert repo.describe("m", clear=True, remove_labels=["tabular"])["labels"] == []
    assert repo.describe("m")["description"] is None
    with pytest.raises(mreg.Error):
        repo.describe("nosuch")


def test_set_alias_compare_and_swap_and_tags(repo: mreg.Repo, work: Path) -> None:
    f = write_model(work / "m.safetensors", seed=20)
    a = repo.commit(f, model="m")
    write_model(f, seed=21)
    b = repo.commit(f, model="m")
    m = repo.set_alias("m", "staging", a.id, expect="none", message="first")
    assert m.moved and m.id == a.id
    with pytest.raises(mreg.ConflictError) as e:
        repo.set_alias("m", "staging", b.id, expect=b.id)
    assert e.value.code == "AliasMoved" and "history" in e.value.hint
    assert repo.resolve("m@staging") == a.id, "a lost compare-and-swap changes nothing"
    assert repo.set_alias("m", "staging", b.id, expect=a.id).moved
    repo.tag("m-v1", a.id, message="release")
    assert repo.resolve("m-v1") == a.id and repo.tags() == {"m-v1": a.id}
    with pytest.raises(mreg.ConflictError):
        repo.tag("m-v1", b.id)


def test_log_list_best_compare(repo: mreg.Repo, work: Path) -> None:
    f = work / "m.safetensors"
    ids = []
    for i, (lr, acc) in enumerate([(0.1, 0.7), (0.01, 0.9), (0.001, 0.8)]):
        write_model(f, seed=30 + i)
        ids.append(repo.commit(f, model="m", params={"lr": lr}, metrics={"acc": acc}, message=f"v{i}").id)
    assert [c.id for c in repo.log("m")] == ids[::-1]
    assert [c.id for c in repo.log("m", limit=2)] == ids[:0:-1]
    rows = repo.list(where="metrics.acc >= 0.8", sort="-metrics.acc")
    assert [r.id for r in rows] == [ids[1], ids[2]]
    assert rows[0].params == {"lr": 0.01} and rows[0].metrics == {"acc": 0.9}
    assert [r.id for r in repo.list(where=["params.lr < 0.05", "metrics.acc < 0.85"])] == [ids[2]]
    assert len(repo.list(limit=1)) == 1
    b = repo.best("m", "acc")
    assert b.id == ids[1] and b.key == "metrics.acc" and b.value == 0.9
    assert repo.best("m", "acc", minimize=True).id == ids[0]
    assert repo.best("m", "acc").goal == "max"
    b = repo.best("m", "acc", set_alias="best")
    assert b.alias_moved and repo.resolve("m@best") == ids[1]
    cmp = repo.compare(["m", "m~1", "m~2"])
    assert cmp.ids == ids[::-1]
    assert cmp.rows["params.lr"] == ["0.001", "0.01", "0.1"]
    assert "metrics.acc" in cmp.differences()
    with pytest.raises(mreg.InvalidArgumentError):
        repo.list(where="metrics.acc >>> 1")


def test_diff_goes_down_to_tensors(repo: mreg.Repo, work: Path) -> None:
    f = work / "m.safetensors"
    t = weights(40)
    write_model(f, tensors=t)
    repo.commit(f, model="m", params={"lr": 0.1})
    t2 = dict(t)
    t2["head.weight"] = t["head.weight"] + np.float32(0.5)
    write_model(f, tensors=t2)
    repo.commit(f, model="m", params={"lr": 0.2})
    d = repo.diff("m~1", "m")
    assert (d.a, d.b) == (repo.resolve("m~1"), repo.resolve("m"))
    assert any(p["key"] == "lr" for p in d.params), d.params
    changed = [f for f in d.files if f.get("status") != "unchanged"]
    assert changed, d.files
    assert "head.weight" in json.dumps(changed)


def test_evaluations_are_attached_and_ranked(repo: mreg.Repo, work: Path) -> None:
    f = work / "m.safetensors"
    write_model(f, seed=50)
    a = repo.commit(f, model="m")
    write_model(f, seed=51)
    b = repo.commit(f, model="m")
    (work / "holdout.csv").write_text("1,2\n")
    ev = repo.add_evaluation(a.id, "holdout", {"f1": 0.7}, data="holdout.csv", message="nightly")
    assert ev.dataset == "holdout" and ev.metrics == {"f1": 0.7} and ev.commit == a.id
    repo.add_evaluation(b.id, "holdout", {"f1": 0.75})
    assert [e.metrics for e in repo.show(a.id).evaluations] == [{"f1": 0.7}]
    assert repo.best("m", "f1", dataset="holdout").id == b.id
    assert [r.id for r in repo.list(where="eval.holdout.f1 > 0.72")] == [b.id]


def test_error_classes_carry_the_cli_message_and_hint(repo: mreg.Repo, work: Path) -> None:
    with pytest.raises(mreg.UnknownRevisionError) as e:
        repo.show("nosuch@production")
    assert isinstance(e.value, mreg.NotFoundError) and isinstance(e.value, mreg.Error)
    assert isinstance(e.value, LookupError)
    p = cli(work, "show", "nosuch@production", check=False)
    lines = p.stderr.splitlines()
    assert lines[0] == f"error: {e.value.message}"
    assert lines[-1] == f"hint: {e.value.hint}"
    assert str(e.value).endswith("hint: " + e.value.hint)

    with pytest.raises(mreg.UnknownModelError):
        repo.history("nosuch")
    with pytest.raises(mreg.InvalidArgumentError) as bad:
        repo.commit(work, model="bad name!")
    assert isinstance(bad.value, ValueError)
    f = write_model(work / "m.safetensors", seed=60)
    with pytest.raises(mreg.InvalidArgumentError):
        repo.commit(f, model="m", metrics={"acc": float("nan")})
    with pytest.raises(mreg.InvalidArgumentError):
        repo.commit(f, model="m", params={"x": object()})
    assert repo.log() == [], "failed commits leave the store unchanged"
    with pytest.raises(mreg.NotARepoError):
        mreg.Repo(work.parent / "elsewhere")
    with pytest.raises(mreg.NotARepoError):
        mreg.init(work)
    # Codes are stable and name the area's own variant (issue 25: every remote error used
    # to be just "Remote").
    with pytest.raises(mreg.RemoteError) as r:
        repo.push()
    assert r.value.code == "RemoteNoRemote"
    repo.commit(f, model="m")
    with pytest.raises(mreg.UnknownRevisionError) as n:
        repo.show("m#9")
    assert n.value.code == "UnknownVersionNumber" and "#1" in n.value.message


def test_pruned_and_corrupt_versions_raise_their_classes(repo: mreg.Repo, work: Path) -> None:
    f = work / "m.safetensors"
    write_model(f, seed=70)
    old = repo.commit(f, model="m")
    write_model(f, seed=71)
    repo.commit(f, model="m")
    cli(work, "prune", old.id, "--yes")
    with pytest.raises(mreg.PrunedError) as e:
        repo.load(old.id)
    assert e.value.code == "Pruned"
    assert repo.show(old.id).pruned, "a pruned version's metadata stays readable"
    # Corrupt every chunk object of the head: load must refuse, never return bad bytes.
    for o in (repo.store_dir / "objects").rglob("*"):
        if o.is_file() and o.stat().st_size > 1000:
            o.chmod(0o644)
            data = bytearray(o.read_bytes())
            data[len(data) // 2] ^= 0xFF
            o.write_bytes(bytes(data))
    with pytest.raises(mreg.CorruptStoreError) as c:
        repo.load("m", to=work.parent / "out")
    assert "fsck" in c.value.hint


def test_threads_commit_and_read_concurrently(repo: mreg.Repo, work: Path) -> None:
    errors = []
    ids = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            d = work / f"w{n}"
            for i in range(3):
                f = write_model(d / "m.safetensors", seed=1000 + n * 10 + i)
                c = repo.commit(f, model="shared", metrics={"n": n, "i": i})
                assert repo.show(c.id).metrics == {"n": n, "i": i}
                with lock:
                    ids.append(c.id)
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    log = repo.log("shared")
    assert sorted(c.id for c in log) == sorted(ids) and len(ids) == 18
    p = cli(work, "fsck")
    assert p.returncode == 0


def test_progress_callback_sees_the_bytes(repo: mreg.Repo, work: Path) -> None:
    f = work / "big.safetensors"
    write_model(f, tensors={"w": np.ones((1024, 1024), dtype=np.float32)})
    seen = []
    repo.commit(f, model="big", progress=lambda what, done, total: seen.append((what, done, total)))
    assert seen and seen[-1][1] == seen[-1][2] and seen[-1][2] >= 4 * 1024 * 1024
    seen.clear()
    repo.load("big", to=work.parent / "out", progress=lambda *a: seen.append(a))
    assert seen


def test_models_lists_heads_and_aliases(repo: mreg.Repo, work: Path) -> None:
    f = write_model(work / "m.safetensors", seed=80)
    c = repo.commit(f, model="m", alias="production")
    (m,) = repo.models()
    assert m.model == "m" and m.head == c.id and m.aliases == {"production": c.id} and m.versions == 1


def test_repo_is_found_upward_and_through_mreg_store(repo: mreg.Repo, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = work / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert mreg.Repo().store_dir == repo.store_dir
    monkeypatch.chdir(work.parent)
    monkeypatch.setenv("MREG_STORE", str(repo.store_dir))
    assert mreg.Repo().root == repo.root
    assert mreg.Repo(repo.store_dir).root == repo.root


def test_load_fetches_data_that_is_only_on_a_remote(repo: mreg.Repo, work: Path) -> None:
    """A metadata-only clone: load streams the version's chunks from the remote, verified."""
    src = write_model(work / "m.safetensors", seed=95)
    c = repo.commit(src, model="m", alias="production")
    remote = work.parent / "remote"
    remote.mkdir()
    cli(work, "remote", "add", "origin", str(remote))
    cli(work, "push")
    clone = work.parent / "clone"
    cli(work.parent, "clone", str(remote), str(clone))
    other = mreg.Repo(clone)
    shown = other.show("m@production")
    assert shown.id == c.id and shown.raw["data_on_remote"] == "origin"
    p = other.load("m@production")
    assert p.read_bytes() == src.read_bytes()
    assert repo.load("m").read_bytes() == p.read_bytes()


def test_every_error_class_is_exported_and_a_subclass_of_error() -> None:
    import mreg.errors

    assert set(mreg.errors.__all__) <= set(mreg.__all__)
    for name in mreg.errors.__all__:
        cls = getattr(mreg, name)
        assert issubclass(cls, mreg.Error) and cls is getattr(mreg.errors, name)
