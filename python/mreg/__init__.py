"""mreg: git-style, content-addressed versioning for machine-learning models.

Register, find and load model versions from Python, in the same ``.modelreg`` store the
``mreg`` command line uses (same ids, same history, same locks)::

    import mreg

    repo = mreg.Repo()                                   # finds .modelreg upward
    c = repo.commit("model.safetensors", model="clf",
                    params={"lr": 0.01}, metrics={"acc": 0.93})
    repo.promote("clf", c.id, message="beats the baseline")
    path = repo.load("clf@production")                   # a local path, cached

Training loops record a run (params, per-step metrics, code lineage, environment)::

    with repo.run(model="clf", params=cfg) as run:
        for epoch in range(10):
            run.log_metric("loss", loss, step=epoch)
        run.commit("model.safetensors")                  # committed when the block ends

The package depends on no ML framework: it returns paths and plain Python values.
Every error is a :class:`mreg.Error` (see :mod:`mreg.errors`).
"""

from __future__ import annotations

import collections
import json
import math
import os
import platform
import re
import resource
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from . import _native
from . import errors as _errors
from .errors import (
    ConflictError,
    CorruptStoreError,
    Error,
    GitError,
    InvalidArgumentError,
    NotARepoError,
    NotFoundError,
    PrunedError,
    RefusedError,
    RemoteError,
    RunError,
    StoreIOError,
    UnknownModelError,
    UnknownRevisionError,
)

__version__: str = _native.__version__

__all__ = [
    "Repo",
    "init",
    "clone",
    "Run",
    "Commit",
    "FileEntry",
    "Dataset",
    "Evaluation",
    "GitLineage",
    "Version",
    "Best",
    "Comparison",
    "Diff",
    "HistoryEntry",
    "RefChange",
    "Promotion",
    "AliasMove",
    "ModelInfo",
    "RunInfo",
]
# The exception classes, as `mreg.errors` lists them (one list to keep).
__all__ += _errors.__all__

PathLike = Union[str, "os.PathLike[str]"]
#: A progress callback: ``(phase, done_bytes, total_bytes)``.
Progress = Callable[[str, int, int], None]


def _time(s: Optional[str]) -> Optional[datetime]:
    """An RFC 3339 time as an aware datetime (fractions cut to microseconds, which
    Python 3.9's ``fromisoformat`` needs)."""
    if not s:
        return None
    m = re.match(r"^(.{19})(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", s)
    if not m:
        return None
    frac = f".{(m.group(2) + '000000')[:6]}" if m.group(2) else ""
    zone = m.group(3) or "Z"
    return datetime.fromisoformat(m.group(1) + frac + ("+00:00" if zone == "Z" else zone))


@dataclass(frozen=True)
class FileEntry:
    """One file of a version."""

    path: str
    blake3: str
    size: int
    executable: bool = False


@dataclass(frozen=True)
class Dataset:
    """A dataset a version was trained on: its name, path and content hash."""

    name: str
    path: str
    blake3: str
    size: int
    #: The dataset's content is stored in the store (so a reproduction can restore it).
    stored: bool = False


@dataclass(frozen=True)
class Evaluation:
    """Metrics of a version on a dataset, attached after it was committed."""

    dataset: str
    metrics: Dict[str, float]
    time: Optional[datetime]
    author: str
    message: str = ""
    commit: str = ""

    @staticmethod
    def _from(d: Mapping[str, Any]) -> "Evaluation":
        return Evaluation(
            dataset=d["dataset"],
            metrics=dict(d.get("metrics", {})),
            time=_time(d.get("time")),
            author=d.get("author", ""),
            message=d.get("message", ""),
            commit=d.get("commit", ""),
        )


@dataclass(frozen=True)
class GitLineage:
    """The code a version was made from: git commit, branch, and uncommitted changes."""

    present: bool
    head: Optional[str] = None
    branch: Optional[str] = None
    describe: Optional[str] = None
    remote_url: Optional[str] = None
    dirty: bool = False
    #: Files with uncommitted changes when the version was made.
    modified: List[str] = field(default_factory=list)
    #: Object id of the stored patch of those changes (``mreg cat-object ID | git apply``).
    patch: Optional[str] = None

    @staticmethod
    def _from(d: Optional[Mapping[str, Any]]) -> Optional["GitLineage"]:
        if d is None:
            return None
        return GitLineage(
            present=bool(d.get("present")),
            head=d.get("head"),
            branch=d.get("branch"),
            describe=d.get("describe"),
            remote_url=d.get("remote_url"),
            dirty=bool(d.get("dirty")),
            modified=list(d.get("modified", [])),
            patch=d.get("patch"),
        )


@dataclass(frozen=True)
class Commit:
    """One version of a model, in full (what ``mreg show --json`` prints).

    ``raw`` holds the whole JSON document, including fields this class does not name
    (the recipe, notes, environment details).
    """

    id: str
    model: str
    parents: List[str]
    message: str
    author: str
    created_at: datetime
    files: List[FileEntry]
    params: Dict[str, Any]
    metrics: Dict[str, float]
    evaluations: List[Evaluation]
    datasets: List[Dataset]
    labels: List[str]
    git: Optional[GitLineage]
    #: Refs pointing at it now: ``head``, ``alias:production``, ``tag:v1``...
    refs: List[str]
    archived: bool
    #: Its file data was pruned (metadata stays readable; ``load`` fails).
    pruned: bool
    environment: Dict[str, Any]
    #: Per-step curves ``{name: [[step, value], ...]}`` of a run or training, if recorded.
    curves: Optional[Dict[str, Any]]
    derived_from: List[str]
    #: The version number (``fraud#12``), the same on every store; None while pending
    #: (committed here, not pushed to the store's remote yet).
    version: Optional[int]
    raw: Dict[str, Any] = field(repr=False)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def size(self) -> int:
        """Total bytes of its files."""
        return sum(f.size for f in self.files)

    @property
    def aliases(self) -> List[str]:
        """Aliases pointing at it (``refs`` are ``head``, ``alias:NAME`` and ``tag:NAME``)."""
        return [r.split(":", 1)[1] for r in self.refs if r.startswith("alias:")]

    @staticmethod
    def _from(d: Mapping[str, Any]) -> "Commit":
        return Commit(
            id=d["id"],
            model=d["model"],
            parents=list(d.get("parents", [])),
            message=d.get("message", ""),
            author=d.get("author", ""),
            created_at=_time(d["created_at"]),  # type: ignore[arg-type]
            files=[
                FileEntry(f["path"], f["blake3"], f["size"], bool(f.get("executable")))
                for f in d.get("files", [])
            ],
            params=dict(d.get("params") or {}),
            metrics=dict(d.get("metrics", {})),
            evaluations=[Evaluation._from(e) for e in d.get("evaluations", [])],
            datasets=[
                Dataset(x["name"], x["path"], x["blake3"], x["size"], bool(x.get("stored")))
                for x in d.get("datasets", [])
            ],
            labels=list(d.get("labels", [])),
            git=GitLineage._from(d.get("git")),
            refs=list(d.get("refs", [])),
            archived=bool(d.get("archived")),
            pruned=bool(d.get("files_pruned")),
            environment=dict(d.get("environment", {})),
            curves=d.get("curves"),
            derived_from=list(d.get("derived_from", [])),
            version=d.get("version"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Version:
    """A version as queries return it (``list``, ``best``): a row of the registry."""

    id: str
    model: str
    created_at: datetime
    author: str
    message: str
    labels: List[str]
    aliases: List[str]
    archived: bool
    params: Dict[str, Any]
    metrics: Dict[str, float]
    #: Evaluations: ``{dataset: {metric: value}}``.
    evals: Dict[str, Dict[str, float]]
    datasets: List[str]
    pruned: bool
    #: The version number; None while pending (not pushed to the store's remote yet).
    version: Optional[int]

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @staticmethod
    def _fields(d: Mapping[str, Any]) -> Dict[str, Any]:
        return dict(
            id=d["id"],
            model=d["model"],
            version=d.get("version"),
            created_at=_time(d["created_at"]),
            author=d.get("author", ""),
            message=d.get("message", ""),
            labels=list(d.get("labels", [])),
            aliases=list(d.get("aliases", [])),
            archived=bool(d.get("archived")),
            params=dict(d.get("params") or {}),
            metrics=dict(d.get("metrics", {})),
            evals={k: dict(v) for k, v in (d.get("evals") or {}).items()},
            datasets=list(d.get("datasets", [])),
            pruned=bool(d.get("files_pruned")),
        )

    @staticmethod
    def _from(d: Mapping[str, Any]) -> "Version":
        return Version(**Version._fields(d))


@dataclass(frozen=True)
class Best(Version):
    """The best version by a key, with the key and its value."""

    key: str = ""
    value: Any = None
    #: Better-ranked versions skipped because their data was pruned.
    skipped_pruned: List[str] = field(default_factory=list)
    #: With ``set_alias``: whether the alias moved (False: it already pointed there).
    alias_moved: Optional[bool] = None
    #: The direction it ranked by: ``"max"`` (higher is better) or ``"min"``.
    goal: str = "max"


@dataclass(frozen=True)
class Comparison:
    """Versions side by side: ``rows`` maps each key (``params.lr``, ``metrics.acc``,
    ``eval.test.f1``...) to one value per version, as text ("-" where absent)."""

    ids: List[str]
    rows: Dict[str, List[str]]

    def differences(self) -> Dict[str, List[str]]:
        """Only the rows whose values differ."""
        return {k: v for k, v in self.rows.items() if len(set(v)) > 1}


@dataclass(frozen=True)
class Diff:
    """Two versions compared: params, metrics and files, down to tensors for safetensors
    files whose data is here (``raw`` holds the whole ``mreg diff --json`` document)."""

    a: str
    b: str
    params: List[Dict[str, Any]]
    metrics: List[Dict[str, Any]]
    files: List[Dict[str, Any]]
    raw: Dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class RefChange:
    """One ref moved by a history entry: ``name`` is ``head``, ``alias production``..."""

    name: str
    old: Optional[str]
    new: Optional[str]


@dataclass(frozen=True)
class HistoryEntry:
    """One move of a model's refs: who, when, what, why."""

    seq: int
    time: datetime
    author: str
    action: str
    message: str
    changes: List[RefChange]
    #: Every ref of the model after the move.
    state: Dict[str, Any]

    @staticmethod
    def _from(d: Mapping[str, Any]) -> "HistoryEntry":
        return HistoryEntry(
            seq=d["seq"],
            time=_time(d["time"]),  # type: ignore[arg-type]
            author=d.get("author", ""),
            action=d.get("action", ""),
            message=d.get("message", ""),
            changes=[RefChange(c["ref"], c.get("old"), c.get("new")) for c in d.get("changes", [])],
            state=dict(d.get("state", {})),
        )


@dataclass(frozen=True)
class Promotion:
    """The result of ``promote`` or ``rollback``."""

    model: str
    production: str
    #: What production was before (now the ``rollback`` alias), if anything.
    rollback: Optional[str]
    #: False when production already pointed there (nothing was recorded).
    moved: bool


@dataclass(frozen=True)
class AliasMove:
    model: str
    alias: str
    id: str
    moved: bool


@dataclass(frozen=True)
class ModelInfo:
    """A model: head, aliases, tags and how many versions it has."""

    model: str
    head: Optional[str]
    aliases: Dict[str, str]
    tags: Dict[str, str]
    versions: int
    archived: int
    last_change: Optional[str]
    #: What the model is, and labels on the model itself (``repo.describe``).
    description: Optional[str]
    labels: List[str]
    raw: Dict[str, Any] = field(repr=False)


def _paths(paths: Union[PathLike, Iterable[PathLike]]) -> List[str]:
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    out = [os.fspath(p) for p in paths]
    if not out:
        raise InvalidArgumentError("no paths given", "name the files or directories to commit")
    return out


def _finite_metrics(what: str, metrics: Optional[Mapping[str, Any]]) -> str:
    out: Dict[str, float] = {}
    for k, v in (metrics or {}).items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"{what}: {k} = {v!r} is not a number",
                "metrics are numbers; keep other values in params",
            ) from None
        if not math.isfinite(f):
            raise InvalidArgumentError(
                f"{what}: {k} = {v!r} is not a finite number",
                "metrics are finite numbers; NaN and infinities cannot be compared",
            )
        out[str(k)] = f
    return json.dumps(out)


def _params(params: Optional[Mapping[str, Any]]) -> str:
    if params is None:
        return "{}"
    if not isinstance(params, Mapping):
        raise InvalidArgumentError("params must be a mapping (a dict)", "pass params={'lr': 0.01}")
    try:
        return json.dumps(dict(params), allow_nan=False, default=_jsonable)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"params: {e}", "params are JSON values: numbers, strings, lists, dicts") from None


def _jsonable(v: Any) -> Any:
    # numpy scalars and arrays, paths, and anything with a plain-value form.
    for attr in ("item", "tolist"):
        if hasattr(v, attr):
            return getattr(v, attr)()
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    raise TypeError(f"{type(v).__name__} is not a JSON value")


@dataclass(frozen=True)
class RunInfo:
    """One run (``mreg runs``): a job that made a version, or one that failed, was
    interrupted or could not be committed (a run record: nothing to promote)."""

    id: str
    model: str
    #: ``succeeded``, ``failed``, ``interrupted`` or ``uncommitted``.
    status: str
    exit_code: Optional[int]
    signal: Optional[int]
    #: Why it made no version ("exit code 3", "KeyboardInterrupt: ...").
    reason: str
    command: List[str]
    author: str
    started_at: datetime
    seconds: float
    message: str
    #: The version it made (succeeded runs), and that version's number.
    version: Optional[str]
    version_number: Optional[int]
    log_bytes: Optional[int]
    #: A failed run's whole record (params, labels, resources, machine), else None.
    record: Optional[Dict[str, Any]] = None

    @staticmethod
    def _from(d: Mapping[str, Any]) -> "RunInfo":
        return RunInfo(
            id=d["id"],
            model=d["model"],
            status=d["status"],
            exit_code=d.get("exit_code"),
            signal=d.get("signal"),
            reason=d.get("reason", ""),
            command=list(d.get("command", [])),
            author=d.get("author", ""),
            started_at=_time(d["started_at"]),  # type: ignore[arg-type]
            seconds=float(d.get("seconds", 0.0)),
            message=d.get("message", ""),
            version=d.get("version"),
            version_number=d.get("version_number"),
            log_bytes=d.get("log_bytes"),
            record=d.get("record"),
        )


class Repo:
    """A model store (the ``.modelreg`` directory and the work tree it versions).

    ``Repo()`` finds the store like the CLI: ``$MREG_STORE``, else upward from the current
    directory; ``Repo(path)`` opens the store at ``path`` (a ``.modelreg`` directory) or
    finds it upward from ``path``. Use :func:`mreg.init` to create one.

    Safe to share between threads: calls release the GIL, and the store's locks serialize
    writers exactly as between ``mreg`` processes.
    """

    def __init__(self, path: Optional[PathLike] = None) -> None:
        self._store = _native.Store.open(None if path is None else os.fspath(path))

    @classmethod
    def _wrap(cls, store: Any) -> "Repo":
        r = cls.__new__(cls)
        r._store = store
        return r

    def __repr__(self) -> str:
        return f"mreg.Repo({str(self.root)!r})"

    @property
    def root(self) -> Path:
        """The directory the store versions files of."""
        return Path(self._store.root)

    @property
    def store_dir(self) -> Path:
        """The ``.modelreg`` directory."""
        return Path(self._store.store_dir)

    # -- reading -------------------------------------------------------------------------

    def resolve(self, rev: str) -> str:
        """The full commit id a revision names (``clf``, ``clf@production``, ``v1``, ``clf~2``,
        an id prefix)."""
        return self._store.resolve(rev)

    def show(self, rev: str) -> Commit:
        """One version in full."""
        return Commit._from(json.loads(self._store.show(rev)))

    def log(self, model: Optional[str] = None, limit: Optional[int] = None) -> List[Commit]:
        """Versions newest first, following parents: of ``model`` (a model or any revision
        to start from), or of every model."""
        items = json.loads(self._store.log(model, limit))
        return [Commit._from(d) for d in items]

    def models(self) -> List[ModelInfo]:
        """Every model with its head, aliases, tags and version count."""
        return [
            ModelInfo(
                model=d["model"],
                head=d.get("head"),
                aliases=dict(d.get("aliases", {})),
                tags=dict(d.get("tags", {})),
                versions=d.get("versions", 0),
                archived=d.get("archived", 0),
                last_change=d.get("last_change"),
                description=d.get("description"),
                labels=list(d.get("labels", [])),
                raw=d,
            )
            for d in json.loads(self._store.models())
        ]

    def describe(
        self,
        model: str,
        description: Optional[str] = None,
        *,
        clear: bool = False,
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
        message: str = "",
    ) -> Dict[str, Any]:
        """A model's description and labels (``mreg describe``); given any change, set them
        first. Recorded in the model's history, so push and pull carry them. Returns
        ``{"model", "description", "labels"}``."""
        return json.loads(
            self._store.describe(
                model, description, clear, list(add_labels), list(remove_labels), message
            )
        )

    def list(
        self,
        where: Union[str, Sequence[str], None] = None,
        sort: Optional[str] = None,
        limit: Optional[int] = None,
        *,
        model: Optional[str] = None,
        alias: Optional[str] = None,
        label: Union[str, Sequence[str], None] = None,
        dataset: Optional[str] = None,
        since: Optional[str] = None,
        until: Optional[str] = None,
        archived: Union[bool, str] = False,
    ) -> List[Version]:
        """Query versions across models, as ``mreg list``.

        ``where`` takes the CLI's filter language (one expression, or several that must all
        match): ``"metrics.acc >= 0.9 and params.lr < 0.01"``, ``"eval.test.f1 > 0.8"``.
        ``sort`` is a key, ``-`` for descending (``"-metrics.acc"``); default newest first.
        ``label``: one label, or several a version must all have. ``archived``: False hides
        archived versions, True includes them, ``"only"`` lists them alone.
        """
        filters = [where] if isinstance(where, str) else list(where or [])
        labels = [label] if isinstance(label, str) else list(label or [])
        only = archived == "only"
        if not isinstance(archived, bool) and not only:
            raise InvalidArgumentError(
                f"archived={archived!r}: use False, True or 'only'", "e.g. repo.list(archived='only')"
            )
        rows = json.loads(
            self._store.list(
                model, alias, labels, dataset, since, until, bool(archived), filters, sort, limit, only
            )
        )
        return [Version._from(d) for d in rows]

    def best(
        self,
        model: str,
        metric: str,
        dataset: Optional[str] = None,
        minimize: Optional[bool] = None,
        *,
        set_alias: Optional[str] = None,
        message: str = "",
    ) -> Best:
        """The best version of ``model`` by ``metric`` (a bare name means ``metrics.NAME``;
        with ``dataset``, the metric evaluated on it). Pruned and archived versions are
        skipped. ``set_alias`` points that alias at the winner (recorded in the history).
        ``minimize``: lower is better; by default decided from the name, as ``mreg best``
        does (a loss, an error, perplexity rank lowest first)."""
        d = json.loads(self._store.best(model, metric, dataset, minimize, set_alias, message))
        return Best(
            **Version._fields(d),
            key=d.get("key", ""),
            value=d.get("value"),
            skipped_pruned=list(d.get("skipped_pruned", [])),
            alias_moved=d.get("alias_moved"),
            goal=d.get("goal", "max"),
        )

    def compare(self, revs: Sequence[str]) -> Comparison:
        """Two or more versions side by side: params, metrics and evaluations."""
        if isinstance(revs, str) or len(revs) < 2:
            raise InvalidArgumentError("compare needs two or more revisions", "repo.compare(['clf', 'clf~1'])")
        d = json.loads(self._store.compare(list(revs)))
        return Comparison(ids=list(d["ids"]), rows={r["key"]: list(r["values"]) for r in d["rows"]})

    def diff(self, a: str, b: str) -> Diff:
        """What changed from version ``a`` to ``b``: params, metrics, files, and inside
        changed safetensors files, tensors (shape, dtype, how many bytes changed)."""
        d = json.loads(self._store.diff(a, b))
        return Diff(
            a=d.get("old", ""),
            b=d.get("new", ""),
            params=list(d.get("params", [])),
            metrics=list(d.get("metrics", [])),
            files=list(d.get("files", [])),
            raw=d,
        )

    def history(self, model: str, alias: Optional[str] = None) -> List[HistoryEntry]:
        """Every move of the model's refs (or of one alias), oldest first."""
        return [HistoryEntry._from(d) for d in json.loads(self._store.history(model, alias))]

    def tags(self) -> Dict[str, str]:
        """Every tag and the commit id it names."""
        return {t["tag"]: t["id"] for t in json.loads(self._store.tags())}

    # -- writing -------------------------------------------------------------------------

    def commit(
        self,
        paths: Union[PathLike, Iterable[PathLike]],
        *,
        model: str,
        message: str = "",
        params: Optional[Mapping[str, Any]] = None,
        metrics: Optional[Mapping[str, float]] = None,
        datasets: Optional[Mapping[str, PathLike]] = None,
        labels: Sequence[str] = (),
        alias: Union[str, Sequence[str], None] = None,
        derived_from: Sequence[str] = (),
        store_datasets: bool = False,
        author: Optional[str] = None,
        progress: Optional[Progress] = None,
    ) -> Commit:
        """Commit files or directories as a new version of ``model``.

        Paths are relative to the current directory. ``datasets`` maps a name to the data's
        path (hashed and recorded; stored too with ``store_datasets``). ``alias`` points one
        or more aliases at the new version in the same step. Git lineage (commit, branch,
        uncommitted changes) is recorded when the files are in a git work tree.
        """
        aliases = [alias] if isinstance(alias, str) else list(alias or [])
        d = self._store.commit(
            _paths(paths),
            model,
            message,
            _params(params),
            _finite_metrics("metrics", metrics),
            [(k, os.fspath(v)) for k, v in (datasets or {}).items()],
            list(labels),
            aliases,
            list(derived_from),
            os.getcwd(),
            author,
            store_datasets,
            progress,
        )
        return Commit._from(json.loads(d))

    def load(
        self,
        rev: str,
        to: Optional[PathLike] = None,
        *,
        force: bool = False,
        verify: bool = False,
        refresh: bool = False,
        verify_signature: bool = False,
        keys: Sequence[PathLike] = (),
        tensors: Optional[Sequence[str]] = None,
        file: Optional[str] = None,
        progress: Optional[Progress] = None,
    ) -> Any:
        """A local path to a version's files: the file of a one-file version, else the
        directory holding them (paths relative to the directory it was committed from).

        Without ``to``, the version is written once into the store's load cache
        (``.modelreg/cache/load/``, read-only files) and later calls return the same path
        without reading anything; ``verify=True`` hashes the cached files first and writes
        them again if they were changed. The cache is bounded (``cache: {load_max: 20GiB}``
        in the store's config.yaml): least recently used versions are evicted, never one
        this ``Repo`` (or another process's) has loaded and still holds. With ``to``, it is written there (``force`` replaces
        files that differ). Data that is only on a remote is fetched, verified, as it is
        written. ``refresh=True`` pulls first, so that ``"fraud@production"`` is the remote's
        production now (a serving process picks up a promotion with one call).
        ``tensors=[NAME, ...]`` reads only those tensors of the version's safetensors file
        (``file``: which, when it has several) and returns ``{name: numpy array}``: their
        chunks and the header's are read, from the store or straight from the remote, and
        nothing else is written (BF16 comes back as uint16, its raw bits);
        ``repo.last_tensor_read`` then says which file was read and how many bytes came
        from the remote.
        ``verify_signature=True`` loads nothing unless the version carries a valid signature
        (``mreg sign``) by one of ``keys`` (public key files; default the keys the model's
        policy trusts): the SHA-256 of its files is checked against the signature first.
        """
        if refresh:
            self.pull(progress=progress)
        if verify_signature:
            rev = self.resolve(rev)  # verify and load the same version
            self.verify(rev, keys=keys)
        if tensors is not None:
            return self._tensors(rev, list(tensors), file)
        d = json.loads(
            self._store.load(rev, None if to is None else os.fspath(to), force, verify, progress)
        )
        return Path(d["path"])

    def _tensors(self, rev: str, names: List[str], file: Optional[str]) -> Dict[str, Any]:
        import numpy as np

        meta, blobs = self._store.read_tensors(rev, names, file)
        dtypes = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
                  "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
                  "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
                  "BOOL": np.bool_}
        out: Dict[str, Any] = {}
        for t, b in zip(json.loads(meta)["tensors"], blobs):
            dt = dtypes.get(t["dtype"])
            if dt is None:
                raise InvalidArgumentError(f"tensor {t['name']}: dtype {t['dtype']} is not read into numpy",
                                           "read it with safetensors after repo.load(rev)")
            out[t["name"]] = np.frombuffer(b, dtype=np.dtype(dt).newbyteorder("<")).reshape(t["shape"])
        self.last_tensor_read = {"path": json.loads(meta)["path"], "bytes_fetched": json.loads(meta)["bytes_fetched"]}
        return out

    # -- signatures ----------------------------------------------------------------------

    def sign(self, rev: str, *, key: PathLike, message: str = "", author: Optional[str] = None) -> Dict[str, Any]:
        """Sign a version with an EC private key file (PEM, P-256) in the OpenSSF
        model-signing format, as ``mreg sign``; the signature is stored with the version.
        The key is read, never stored."""
        return json.loads(self._store.sign(rev, os.fspath(key), message, author))

    def verify(self, rev: str, *, keys: Sequence[PathLike] = (), signature: Optional[PathLike] = None) -> Dict[str, Any]:
        """Verify a version's signature against its bytes, as ``mreg verify``: a bundle file
        (``signature``, e.g. from ``model_signing sign key``) or the stored signatures, with
        public key files (default: the model's trusted keys). Raises on any doubt."""
        return json.loads(self._store.verify_signature(
            rev, [os.fspath(k) for k in keys], None if signature is None else os.fspath(signature)))

    def signatures(self, rev: str) -> List[Dict[str, Any]]:
        """The signatures stored with a version (key hint, signer, when, trusted)."""
        return self.show(rev).raw.get("signatures", [])

    # -- remotes -------------------------------------------------------------------------

    def remotes(self) -> Dict[str, Dict[str, Any]]:
        """The configured remotes: name -> ``{"url", "endpoint", "region", "origin"}``."""
        return json.loads(self._store.remotes())

    def push(
        self,
        remote: Optional[str] = None,
        models: Sequence[str] = (),
        *,
        progress: Optional[Progress] = None,
    ) -> Dict[str, Any]:
        """Publish local moves to ``remote`` (default: the only or ``origin`` one), as
        ``mreg push``; returns its report. A move someone else made first on the remote
        refuses yours: :class:`ConflictError`, after everything else was published (then
        ``pull`` and redo the move if still wanted)."""
        r = json.loads(self._store.push(remote, list(models), progress))
        if r.get("refused_messages"):
            raise ConflictError(
                "rejected: " + "; ".join(r["refused_messages"]),
                "repo.pull() takes the remote's moves (reporting any local move it replaces); then redo yours if still wanted, and push again",
                "PushRefused",
            )
        return r

    def fetch(self, remote: Optional[str] = None, *, progress: Optional[Progress] = None) -> Dict[str, Any]:
        """New history and version metadata from ``remote``; local refs do not move."""
        return json.loads(self._store.fetch(remote, progress))

    def pull(
        self,
        remote: Optional[str] = None,
        models: Sequence[str] = (),
        *,
        progress: Optional[Progress] = None,
    ) -> Dict[str, Any]:
        """Fetch, then take the remote's moves, as ``mreg pull``: afterwards this store's
        refs are the remote's plus its own unpublished moves. Returns the report
        (``dropped``: your unpushed moves the remote contradicted)."""
        return json.loads(self._store.pull(remote, list(models), progress))

    def promote(
        self,
        model: str,
        rev: Optional[str] = None,
        *,
        expect: Optional[str] = None,
        message: str = "",
        allow_unsafe: bool = False,
    ) -> Promotion:
        """Make ``rev`` (default: ``MODEL@candidate``) production; the previous production
        becomes ``rollback``. One atomic step, recorded in the history with ``message``.

        ``expect`` makes it a compare-and-swap: the revision production must be now (or
        ``"none"``); otherwise nothing moves and ``ConflictError`` says where it is.
        A version whose pickles would run code no allowlist vouches for is refused unless
        ``allow_unsafe`` (recorded in the history); a model that trusts signing keys takes
        only versions one of them signed."""
        return Promotion(**json.loads(self._store.promote(model, rev, expect, message, None, allow_unsafe)))

    def rollback(
        self, model: str, *, expect: Optional[str] = None, message: str = ""
    ) -> Promotion:
        """Put ``rollback`` back into production (and the demoted version into ``rollback``).
        ``expect``: the revision production must be now (compare-and-swap)."""
        return Promotion(**json.loads(self._store.rollback(model, expect, message)))

    def set_alias(
        self,
        model: str,
        alias: str,
        rev: str,
        *,
        expect: Optional[str] = None,
        message: str = "",
    ) -> AliasMove:
        """Point ``model@alias`` at ``rev``.

        ``expect`` makes it a compare-and-swap: the revision the alias must point at now, or
        ``"none"`` for "must not exist yet"; if someone moved it first, :class:`ConflictError`
        is raised and nothing changes.
        """
        return AliasMove(**json.loads(self._store.set_alias(model, alias, rev, expect, message)))

    def policy(self, model: str) -> Optional[Dict[str, str]]:
        """The model's promotion policy: ``{"metric": KEY, "goal": "max"|"min"}``, or None."""
        return json.loads(self._store.policy(model))

    def set_policy(
        self, model: str, metric: Optional[str], *, minimize: bool = False, message: str = ""
    ) -> None:
        """Set the model's promotion policy (``metric=None`` clears it), as ``mreg policy``:
        recorded in the model's history, so push and pull carry it to every store."""
        self._store.set_policy(model, metric, minimize, message)

    def archive(self, rev: str, *, message: str = "") -> bool:
        """Archive a version: hidden from listings unless asked, not promotable. Refused
        for a version an alias points at. Returns False when it already was."""
        return self._store.set_archived(rev, True, message)

    def unarchive(self, rev: str, *, message: str = "") -> bool:
        """Undo ``archive``. Returns False when it was not archived."""
        return self._store.set_archived(rev, False, message)

    def add_label(self, rev: str, label: str, *, message: str = "") -> bool:
        """Add a label to a version after the fact (recorded in the history)."""
        return self._store.set_label(rev, label, True, message)

    def remove_label(self, rev: str, label: str, *, message: str = "") -> bool:
        """Remove a label from a version (recorded in the history)."""
        return self._store.set_label(rev, label, False, message)

    def tag(self, name: str, rev: str, *, message: str = "") -> HistoryEntry:
        """Create an immutable tag naming ``rev`` (tags never move)."""
        return HistoryEntry._from(json.loads(self._store.tag(name, rev, message)))

    def add_evaluation(
        self,
        rev: str,
        dataset: str,
        metrics: Mapping[str, float],
        *,
        data: Optional[PathLike] = None,
        message: str = "",
    ) -> Evaluation:
        """Attach metrics measured on ``dataset`` to a version (``data``: the evaluation data,
        hashed and recorded). The model's policy may move aliases in response."""
        d = self._store.add_evaluation(
            rev,
            dataset,
            _finite_metrics("metrics", metrics),
            None if data is None else os.fspath(data),
            message,
        )
        return Evaluation._from(json.loads(d))

    def runs(self, model: Optional[str] = None) -> List[RunInfo]:
        """Every run of ``model`` (or of every model), newest first, as ``mreg runs``:
        the ones that made a version and the ones that did not (failed, interrupted)."""
        return [RunInfo._from(d) for d in json.loads(self._store.runs(model))]

    def run_info(self, run: str) -> RunInfo:
        """One run by id (a unique prefix), or the version a run made, with its record."""
        return RunInfo._from(json.loads(self._store.run_info(run)))

    def run_log(self, run: str) -> str:
        """The output a run's job wrote (``mreg runs show RUN --log``)."""
        return bytes(self._store.run_log(run)).decode("utf-8", errors="replace")

    def prune(
        self,
        rev: str,
        *,
        dry_run: bool = False,
        message: str = "",
        remote: Optional[str] = None,
        grace: Optional[float] = None,
        progress: Optional[Progress] = None,
    ) -> Dict[str, Any]:
        """Delete one version's file data on purpose (a bad or leaked version), as ``mreg
        prune``: refused for a version a ref points at; its metadata and history stay, and
        the prune is a history line. Returns the plan (what was, or would be, freed).

        With ``remote``, as ``mreg prune --remote``: the prune is published there (every
        store that pulls it refuses to check the version out) and the remote's gc removes
        the data no other version there needs (objects written within ``grace`` seconds,
        default 24 hours, are kept)."""
        g = None if grace is None else int(grace)
        return json.loads(self._store.prune(rev, dry_run, message, None, remote, g, progress))

    def gc_remote(
        self,
        remote: Optional[str] = None,
        *,
        dry_run: bool = True,
        grace: Optional[float] = None,
        progress: Optional[Progress] = None,
    ) -> Dict[str, Any]:
        """Remove from a remote what no version there needs, as ``mreg gc --remote``.
        ``dry_run=True`` (the default) returns the plan and changes nothing; objects written
        within ``grace`` seconds (default 24 hours) are kept. Safe while others push."""
        g = None if grace is None else int(grace)
        return json.loads(self._store.gc_remote(remote, dry_run, g, progress))

    def du_remote(
        self, remote: Optional[str] = None, *, progress: Optional[Progress] = None
    ) -> Dict[str, Any]:
        """Bytes on a remote per version (needed there, only its own, shared) and what
        ``gc_remote`` would free, as ``mreg du --remote``."""
        return json.loads(self._store.du_remote(remote, progress))

    def run(
        self,
        *,
        model: str,
        params: Optional[Mapping[str, Any]] = None,
        message: str = "",
        labels: Sequence[str] = (),
        datasets: Optional[Mapping[str, PathLike]] = None,
        alias: Union[str, Sequence[str], None] = None,
    ) -> "Run":
        """A run context for a training loop: see :class:`Run`."""
        return Run(self, model=model, params=params, message=message, labels=labels,
                   datasets=datasets, alias=alias)


def init(path: PathLike = ".") -> Repo:
    """Create a store in ``path`` (its ``.modelreg`` directory) and open it."""
    return Repo._wrap(_native.Store.init(os.fspath(path)))


def clone(
    url: str,
    path: PathLike,
    *,
    endpoint: Optional[str] = None,
    region: Optional[str] = None,
    name: str = "origin",
    data: bool = False,
    progress: Optional[Progress] = None,
) -> Repo:
    """A new store in ``path`` from the remote at ``url`` (``s3://bucket/prefix`` with
    ``endpoint`` for a non-AWS server, or a directory), as ``mreg clone``: history and
    metadata; data is fetched when a version is loaded (``data=True``: everything now).
    Credentials come from the usual AWS variables."""
    _native.Store.clone(url, os.fspath(path), endpoint, region, name, data, progress)
    return Repo(path)


def _python_env() -> Dict[str, Any]:
    packages: Dict[str, str] = {}
    try:
        import importlib.metadata as md

        for d in md.distributions():
            name = d.metadata["Name"]
            if name:
                packages[name] = d.version
    except Exception:  # an unreadable distribution must not fail the run
        pass
    return {"executable": sys.executable, "version": platform.python_version(), "packages": packages}


class _LogSink:
    """What a run block printed, bounded as ``mreg run`` bounds a job's log: the first
    ``LOG_HEAD`` bytes, the last ``LOG_TAIL``, and the count of all (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.head = bytearray()
        self.tail: "collections.deque[bytes]" = collections.deque()
        self.tail_len = 0
        self.total = 0

    def add(self, text: str) -> None:
        b = text.encode("utf-8", errors="replace")
        with self._lock:
            self.total += len(b)
            room = _native.LOG_HEAD - len(self.head)
            if room > 0:
                self.head += b[:room]
                b = b[room:]
            if b:
                self.tail.append(b)
                self.tail_len += len(b)
                while self.tail and self.tail_len - len(self.tail[0]) >= _native.LOG_TAIL:
                    self.tail_len -= len(self.tail.popleft())

    def parts(self) -> Tuple[bytes, bytes, int]:
        with self._lock:
            tail = b"".join(self.tail)
            return bytes(self.head), tail[-_native.LOG_TAIL:] if tail else b"", self.total


class _Tee:
    """A text stream that also hands what is written to a `_LogSink`."""

    def __init__(self, stream: Any, sink: _LogSink) -> None:
        self._stream = stream
        self._sink = sink

    def write(self, text: str) -> int:
        n = self._stream.write(text)
        try:
            self._sink.add(str(text))
        except Exception:  # capturing must never break the training's output
            pass
        return n

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Run:
    """A training run, recorded as ``mreg run`` records a command::

        with repo.run(model="clf", params=cfg) as run:
            for epoch in range(epochs):
                ...
                run.log_metric("loss", loss, step=epoch)
            run.log_metric("acc", acc)
            run.commit("model.safetensors")
        print(run.result.id)

    When the block ends without an exception, the outputs named by :meth:`commit` are
    committed as one version with: params, the last value of every logged metric, every
    per-step value as curves, wall and CPU time, peak memory and threads, GPU use (NVML),
    what the block printed (its log), the command line of this
    process (``mreg reproduce`` runs it again), the Python version and installed packages,
    the machine, and the git lineage with the uncommitted changes as a patch. A block that
    raises commits nothing and is kept as a failed run (``repo.runs()``: status, reason,
    command, params, duration, peak memory; ``interrupted`` for Ctrl-C), and the exception
    propagates.

    Under ``mreg reproduce`` (environment variable ``MREG_REPLAY`` set) the run writes its
    outputs and commits nothing: reproduce compares them with the recorded version.

    ``log_metric`` may be called from several threads (data-loader workers).
    """

    def __init__(
        self,
        repo: Repo,
        *,
        model: str,
        params: Optional[Mapping[str, Any]] = None,
        message: str = "",
        labels: Sequence[str] = (),
        datasets: Optional[Mapping[str, PathLike]] = None,
        alias: Union[str, Sequence[str], None] = None,
    ) -> None:
        self._repo = repo
        self.model = model
        self.params: Dict[str, Any] = dict(params or {})
        _params(self.params)  # fail now on values that are not JSON
        self.message = message
        self.labels = list(labels)
        self.datasets = {k: os.fspath(v) for k, v in (datasets or {}).items()}
        self.aliases = [alias] if isinstance(alias, str) else list(alias or [])
        # Every name the commit will record is checked now, before the training runs: a
        # typo must not throw away a finished run.
        repo._store.check_run_names(model, self.labels, list(self.datasets), self.aliases)
        self.metrics: Dict[str, float] = {}
        self.recorded: Dict[str, Any] = {}
        self.curves: Dict[str, List[Tuple[float, Optional[float]]]] = {}
        self._outputs: List[str] = []
        self._lock = threading.Lock()
        self._started: Optional[float] = None
        self._cpu0 = 0.0
        self._cwd = os.getcwd()
        self._live: Any = None
        self._pending: List[Tuple[str, float, Optional[float]]] = []
        self._flushed = time.monotonic()
        #: The committed version, once the block has ended without an exception.
        self.result: Optional[Commit] = None
        #: The id of the run record kept when the block raised (no version was made).
        self.failed_run: Optional[str] = None

    def __enter__(self) -> "Run":
        self._started = time.monotonic()
        r = resource.getrusage(resource.RUSAGE_SELF)
        self._cpu0 = r.ru_utime + r.ru_stime
        # What `mreg run` records from outside, from inside: the process's threads and GPUs
        # (NVML) sampled while the block runs, and what the block prints.
        self._watch = _native.Watch()
        self._log = _LogSink()
        self._streams = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, self._log)  # type: ignore[assignment]
        sys.stderr = _Tee(sys.stderr, self._log)  # type: ignore[assignment]
        # Shown on the dashboard's model page while it trains, curves included (flushed at
        # most once a second). Not under reproduce: a replay is not a new run.
        self._flushed = time.monotonic()
        if not os.environ.get("MREG_REPLAY"):
            try:
                self._live = self._repo._store.live_begin(self.model, self._command())
            except Exception as e:  # the dashboard's view must never stop the training
                warnings.warn(f"mreg: this run is not shown live on the dashboard: {e}")
        return self

    @staticmethod
    def _command() -> List[str]:
        return [sys.executable, *sys.argv] if sys.argv and sys.argv[0] else [sys.executable]

    def _flush_live(self) -> None:
        live = self._live
        if live is None:
            return
        with self._lock:
            pending, self._pending = self._pending, []
            self._flushed = time.monotonic()
        if pending:
            try:
                live.append(pending)
            except Exception as e:
                warnings.warn(f"mreg: live curves stopped: {e}")
                self._live = None

    def _end_live(self, status: str, version: Optional[str] = None, run: Optional[str] = None,
                  reason: str = "") -> None:
        self._flush_live()
        live, self._live = self._live, None
        if live is not None:
            try:
                live.end(status, version, run, reason)
            except Exception as e:
                warnings.warn(f"mreg: the live record could not be ended: {e}")

    def _stop_capture(self) -> None:
        streams = getattr(self, "_streams", None)
        if streams is not None:
            sys.stdout, sys.stderr = streams
            self._streams = None

    def log_metric(self, name: str, value: float, step: Optional[float] = None) -> None:
        """Record a metric value (at ``step``; default: the next step of that metric). The
        last value becomes the version's metric; every value is kept as a curve."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"metric {name}: {value!r} is not a number", "log numbers; keep other values with log_value") from None
        with self._lock:
            points = self.curves.setdefault(str(name), [])
            s = float(step) if step is not None else (points[-1][0] + 1 if points else 0.0)
            points.append((s, v if math.isfinite(v) else None))
            if self._live is not None:
                self._pending.append((str(name), s, v if math.isfinite(v) else None))
            if math.isfinite(v):
                self.metrics[str(name)] = v
            else:
                # A diverged run keeps its NaN as recorded information, never as a metric.
                self.metrics.pop(str(name), None)
                self.recorded[str(name)] = repr(v)
            due = self._pending and time.monotonic() - self._flushed >= 1.0
        if due:
            self._flush_live()

    def log_metrics(self, metrics: Mapping[str, float], step: Optional[float] = None) -> None:
        """Several metrics at one step."""
        for k, v in metrics.items():
            self.log_metric(k, v, step)

    def log_param(self, name: str, value: Any) -> None:
        """Add or change a param."""
        with self._lock:
            self.params[str(name)] = value

    def log_value(self, name: str, value: Any) -> None:
        """Record a value that is not a metric (a string, a list, a flag)."""
        with self._lock:
            self.recorded[str(name)] = value

    def _record_failure(self, exc_type: Any, exc: Any) -> None:
        started = self._started if self._started is not None else time.monotonic()
        r = resource.getrusage(resource.RUSAGE_SELF)
        peak = r.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        interrupted = issubclass(exc_type, (KeyboardInterrupt, SystemExit))
        reason = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
        try:
            with self._lock:
                self.failed_run = self._repo._store.record_failed_run(
                    self.model,
                    [sys.executable, *sys.argv] if sys.argv and sys.argv[0] else [sys.executable],
                    interrupted,
                    reason,
                    time.monotonic() - started,
                    (r.ru_utime + r.ru_stime) - self._cpu0,
                    int(peak),
                    self.message,
                    _params(self.params),
                    self.labels,
                    self._cwd,
                    None,
                    getattr(self, "_watch", None),
                    self._log.parts() if getattr(self, "_log", None) else None,
                )
        except Exception as e:  # recording must never hide the block's own exception
            warnings.warn(f"mreg: the failed run could not be recorded: {e}")

    def commit(self, *paths: PathLike, message: Optional[str] = None) -> None:
        """Name the run's outputs (files or directories, relative to the current directory);
        they are committed when the ``with`` block ends without an exception."""
        if not paths:
            raise InvalidArgumentError("run.commit needs the output paths", "run.commit('model.safetensors')")
        for p in paths:
            full = os.path.join(os.getcwd(), os.fspath(p))
            if not os.path.exists(full):
                raise InvalidArgumentError(f"{os.fspath(p)}: no such file or directory", "write the output before naming it")
            self._outputs.append(os.path.relpath(full, self._cwd))
        if message is not None:
            self.message = message

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self._stop_capture()
        if exc_type is not None:
            # No version; the run is kept as a run record (``repo.runs()``), and the
            # exception propagates.
            if not os.environ.get("MREG_REPLAY"):
                self._record_failure(exc_type, exc)
            interrupted = issubclass(exc_type, (KeyboardInterrupt, SystemExit))
            self._end_live("interrupted" if interrupted else "failed", run=self.failed_run,
                           reason=f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__)
            return False
        try:
            self._commit_outputs()
        except BaseException as e:
            self._end_live("uncommitted", reason=str(e))
            raise
        self._end_live("succeeded", version=self.result.id if self.result else None)
        return False

    def _commit_outputs(self) -> None:
        if not self._outputs:
            raise InvalidArgumentError(
                "the run named no outputs: nothing was committed",
                "call run.commit(PATH) inside the with block",
            )
        if os.environ.get("MREG_REPLAY"):
            return
        started = self._started if self._started is not None else time.monotonic()
        r = resource.getrusage(resource.RUSAGE_SELF)
        peak = r.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        with self._lock:
            curves = {k: [[s, v] for s, v in pts] for k, pts in self.curves.items()}
            d = self._repo._store.record_run(
                list(self._outputs),
                self.model,
                [sys.executable, *sys.argv] if sys.argv and sys.argv[0] else [sys.executable],
                json.dumps(curves),
                json.dumps(_python_env()),
                time.monotonic() - started,
                (r.ru_utime + r.ru_stime) - self._cpu0,
                int(peak),
                self.message,
                _params(self.params),
                _finite_metrics("metrics", self.metrics),
                json.dumps(self.recorded, default=str),
                list(self.datasets.items()),
                self.labels,
                self.aliases,
                self._cwd,
                None,
                None,
                getattr(self, "_watch", None),
                self._log.parts() if getattr(self, "_log", None) else None,
            )
        self.result = Commit._from(json.loads(d))
