"""The compiled module (Rust, PyO3). Results are JSON text in the shapes of the CLI's
`--json`; `mreg/__init__.py` turns them into typed objects. Not a public API."""

from typing import Callable, List, Optional, Tuple

__version__: str

_Progress = Optional[Callable[[str, int, int], None]]

class Store:
    @staticmethod
    def open(path: Optional[str] = None) -> "Store": ...
    @staticmethod
    def init(path: str) -> "Store": ...
    @staticmethod
    def clone(
        url: str,
        path: str,
        endpoint: Optional[str] = None,
        region: Optional[str] = None,
        name: str = "origin",
        data: bool = False,
        progress: _Progress = None,
    ) -> str: ...
    def push(self, remote: Optional[str] = None, models: List[str] = ..., progress: _Progress = None) -> str: ...
    def fetch(self, remote: Optional[str] = None, progress: _Progress = None) -> str: ...
    def pull(self, remote: Optional[str] = None, models: List[str] = ..., progress: _Progress = None) -> str: ...
    def remotes(self) -> str: ...
    def policy(self, model: str) -> str: ...
    def set_policy(
        self,
        model: str,
        metric: Optional[str] = None,
        minimize: bool = False,
        message: str = "",
        author: Optional[str] = None,
    ) -> None: ...
    def check_run_names(self, model: str, labels: List[str], datasets: List[str], aliases: List[str]) -> None: ...
    def set_archived(self, rev: str, archive: bool, message: str = "", author: Optional[str] = None) -> bool: ...
    def set_label(
        self, rev: str, label: str, add: bool, message: str = "", author: Optional[str] = None
    ) -> bool: ...
    @property
    def root(self) -> str: ...
    @property
    def store_dir(self) -> str: ...
    def resolve(self, rev: str) -> str: ...
    def show(self, rev: str) -> str: ...
    def log(self, start: Optional[str] = None, limit: Optional[int] = None) -> str: ...
    def models(self) -> str: ...
    def list(
        self,
        model: Optional[str] = None,
        alias: Optional[str] = None,
        labels: List[str] = ...,
        dataset: Optional[str] = None,
        since: Optional[str] = None,
        until: Optional[str] = None,
        archived: bool = False,
        filters: List[str] = ...,
        sort: Optional[str] = None,
        limit: Optional[int] = None,
        only_archived: bool = False,
    ) -> str: ...
    def best(
        self,
        model: str,
        key: str,
        dataset: Optional[str] = None,
        minimize: Optional[bool] = None,
        set_alias: Optional[str] = None,
        message: str = "",
        author: Optional[str] = None,
    ) -> str: ...
    def compare(self, revs: List[str]) -> str: ...
    def diff(self, a: str, b: str) -> str: ...
    def commit(
        self,
        paths: List[str],
        model: str,
        message: str = "",
        params: str = "{}",
        metrics: str = "{}",
        datasets: List[Tuple[str, str]] = ...,
        labels: List[str] = ...,
        aliases: List[str] = ...,
        derived_from: List[str] = ...,
        cwd: Optional[str] = None,
        author: Optional[str] = None,
        store_datasets: bool = False,
        progress: _Progress = None,
    ) -> str: ...
    def record_run(
        self,
        paths: List[str],
        model: str,
        command: List[str],
        curves: str,
        python: str,
        wall_seconds: float,
        cpu_seconds: float,
        peak_rss_bytes: int,
        message: str = "",
        params: str = "{}",
        metrics: str = "{}",
        recorded: str = "{}",
        datasets: List[Tuple[str, str]] = ...,
        labels: List[str] = ...,
        aliases: List[str] = ...,
        cwd: Optional[str] = None,
        author: Optional[str] = None,
        progress: _Progress = None,
        watch: Optional["Watch"] = None,
        log: Optional[Tuple[bytes, bytes, int]] = None,
    ) -> str: ...
    def load(
        self, rev: str, to: Optional[str] = None, force: bool = False, verify: bool = False, progress: _Progress = None
    ) -> str: ...
    def promote(
        self,
        model: str,
        rev: Optional[str] = None,
        expect: Optional[str] = None,
        message: str = "",
        author: Optional[str] = None,
    ) -> str: ...
    def rollback(
        self, model: str, expect: Optional[str] = None, message: str = "", author: Optional[str] = None
    ) -> str: ...
    def set_alias(
        self,
        model: str,
        alias: str,
        rev: str,
        expect: Optional[str] = None,
        message: str = "",
        author: Optional[str] = None,
    ) -> str: ...
    def tag(self, name: str, rev: str, message: str = "", author: Optional[str] = None) -> str: ...
    def tags(self) -> str: ...
    def history(self, model: str, alias: Optional[str] = None) -> str: ...
    def add_evaluation(
        self,
        rev: str,
        dataset: str,
        metrics: str,
        data: Optional[str] = None,
        message: str = "",
        author: Optional[str] = None,
    ) -> str: ...
    def runs(self, model: Optional[str] = None) -> str: ...
    def run_info(self, run: str) -> str: ...
    def run_log(self, run: str) -> bytes: ...
    def record_failed_run(
        self,
        model: str,
        command: List[str],
        interrupted: bool,
        reason: str,
        wall_seconds: float,
        cpu_seconds: float,
        peak_rss_bytes: int,
        message: str = "",
        params: str = "{}",
        labels: List[str] = ...,
        cwd: Optional[str] = None,
        author: Optional[str] = None,
        watch: Optional["Watch"] = None,
        log: Optional[Tuple[bytes, bytes, int]] = None,
    ) -> str: ...
    def prune(self, rev: str, dry_run: bool = False, message: str = "", author: Optional[str] = None) -> str: ...
    def describe(
        self,
        model: str,
        description: Optional[str] = None,
        clear: bool = False,
        add_labels: List[str] = ...,
        remove_labels: List[str] = ...,
        message: str = "",
        author: Optional[str] = None,
    ) -> str: ...

class Watch:
    """Samples this process's threads and GPUs (NVML) until passed to a record call."""
    def __init__(self) -> None: ...

LOG_HEAD: int
LOG_TAIL: int
