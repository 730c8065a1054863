"""Signatures in the OpenSSF model-signing format, checked against the reference tool
(`model_signing`, PyPI) both ways: what mreg signs, `model_signing verify` accepts on a
checkout; what `model_signing sign` makes over a checkout, `repo.verify` accepts; tampered
files, another key and a bundle for other files are refused; `load(verify_signature=True)`
loads only signed data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import mreg
from conftest import write_model

TOOL = [sys.executable, "-m", "model_signing"]


def key_pair(d: Path, name: str) -> tuple[Path, Path]:
    k = ec.generate_private_key(ec.SECP256R1())
    priv, pub = d / f"{name}.pem", d / f"{name}.pub.pem"
    priv.write_bytes(k.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption()))
    pub.write_bytes(k.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


def tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*TOOL, *args], capture_output=True, text=True)


@pytest.fixture
def model(repo: mreg.Repo, work: Path) -> tuple[mreg.Repo, str, str]:
    d = work / "model"
    d.mkdir()
    write_model(d / "model.safetensors", seed=1)
    (d / "config.json").write_text('{"layers": 2}')
    (d / "tok").mkdir()
    (d / "tok" / "vocab.txt").write_text("a\nb\n")
    first = repo.commit(d, model="m", message="v1").id
    write_model(d / "model.safetensors", seed=2)
    second = repo.commit(d, model="m", message="v2").id
    return repo, first, second


def test_what_mreg_signs_the_reference_tool_verifies(model, work: Path) -> None:
    repo, first, _ = model
    priv, pub = key_pair(work, "alice")
    repo.sign(first, key=priv, message="reviewed")
    out = work / "co"
    repo.load(first, to=out)
    sig = work / "v1.sig"
    subprocess.run([os.environ["MREG_BIN"], "signature", first, "-o", str(sig)], cwd=work, check=True)
    r = tool("verify", "key", "--public_key", str(pub), "--signature", str(sig), str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    # The reference tool refuses a tampered file, and another key.
    (out / "config.json").write_text('{"layers": 3}')
    r = tool("verify", "key", "--public_key", str(pub), "--signature", str(sig), str(out))
    assert r.returncode != 0
    _, other = key_pair(work, "mallory")
    shutil.rmtree(out)
    repo.load(first, to=out)
    r = tool("verify", "key", "--public_key", str(other), "--signature", str(sig), str(out))
    assert r.returncode != 0


def test_what_the_reference_tool_signs_mreg_verifies(model, work: Path) -> None:
    repo, first, second = model
    priv, pub = key_pair(work, "alice")
    out = work / "co"
    repo.load(first, to=out)
    sig = work / "ref.sig"
    r = tool("sign", "key", "--private_key", str(priv), "--signature", str(sig), str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    v = repo.verify(first, keys=[pub], signature=sig)
    assert v["files"] == 3
    # Another version's files, another key: refused with the reason.
    with pytest.raises(mreg.Error, match="config.json|model.safetensors"):
        repo.verify(second, keys=[pub], signature=sig)
    _, other = key_pair(work, "mallory")
    with pytest.raises(mreg.Error, match="another key"):
        repo.verify(first, keys=[other], signature=sig)


def test_load_with_verify_signature_loads_only_signed_data(model, work: Path) -> None:
    repo, first, second = model
    priv, pub = key_pair(work, "alice")
    with pytest.raises(mreg.Error, match="trusts no key"):
        repo.load(first, verify_signature=True)
    with pytest.raises(mreg.Error, match="no signature"):
        repo.load(first, verify_signature=True, keys=[pub])
    repo.sign(first, key=priv)
    path = repo.load(first, verify_signature=True, keys=[pub])
    assert (path / "config.json").is_file()
    sigs = repo.signatures(first)
    assert len(sigs) == 1 and sigs[0]["trusted"] is None


def test_a_pickle_that_runs_code_is_recorded_and_kept_out_of_production(repo: mreg.Repo, work: Path) -> None:
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, ("true",))

    bad = work / "model.pkl"
    bad.write_bytes(pickle.dumps({"w": [1.0], "hook": Payload()}, protocol=4))
    c = repo.commit(bad, model="m", message="downloaded")
    found = repo.show(c.id).raw["unsafe_pickles"]
    assert [f["callable"] for f in found] == ["posix.system"] and found[0]["kind"] == "dangerous"
    with pytest.raises(mreg.Error, match="would run code"):
        repo.promote("m", c.id)
    repo.promote("m", c.id, allow_unsafe=True, message="audited")
    assert repo.resolve("m@production") == c.id
