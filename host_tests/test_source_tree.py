"""The source layout: lib/ by layer, module names unique (the device's /lib is flat), imports only downwards."""

import ast
import sys

import pytest
from source_tree import FIRMWARE_DIR, LIB_DIRS, LIB_LAYERS, ROOT

# What a lib/ module may import besides lib/ itself: modules every MicroPython port has built in.
MICROPYTHON_BUILTINS = {"array", "errno", "gc", "json", "micropython", "os", "select", "socket", "struct", "sys",
                        "time"}
# Layers that may import one another's modules: none of the same rank, except within one folder.
LAYER_RANK = {"common": 0, "meter": 1, "control": 2, "hoymiles": 3, "sunspec": 3, "status": 4, "net": 5}
MAX_LINES = 500  # small modules, one job each (a device module is also one .mpy imported whole into RAM)


def modules(directories):
    return {path.stem: path for directory in directories for path in sorted(directory.glob("*.py"))}


def imported_names(path):
    """Every module a file imports, at the top or inside a function (lazy imports count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


LIB = modules(LIB_DIRS)
FIRMWARE = modules([FIRMWARE_DIR])


def test_no_module_in_lib_or_firmware_is_over_500_lines():
    lengths = {name: len(path.read_text().splitlines()) for name, path in {**LIB, **FIRMWARE}.items()}
    assert lengths and {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_every_lib_folder_is_a_known_layer():
    folders = {path.name for path in (ROOT / "lib").iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders == set(LIB_LAYERS) == set(LAYER_RANK)
    assert not list((ROOT / "lib").glob("*.py")), "lib/ holds layer folders only"


def test_module_names_are_unique_across_lib_and_firmware():
    seen = {}
    for directory in LIB_DIRS + (FIRMWARE_DIR,):
        for path in directory.glob("*.py"):
            assert path.stem not in seen, "%s and %s flatten to one /lib/%s.mpy" % (seen[path.stem], path, path.stem)
            seen[path.stem] = path


@pytest.mark.parametrize("name", sorted(LIB))
def test_lib_imports_only_lib_and_micropython_builtins(name):
    path = LIB[name]
    for imported in imported_names(path):
        assert imported not in FIRMWARE, "%s imports firmware/%s.py: lib/ never reaches the edge" % (path, imported)
        assert imported in LIB or imported in MICROPYTHON_BUILTINS or imported == "compat", (
            "%s imports %r, which is neither in lib/ nor built into MicroPython" % (path, imported))


@pytest.mark.parametrize("name", sorted(LIB))
def test_lib_imports_only_its_own_layer_or_below(name):
    path = LIB[name]
    layer = path.parent.name
    for imported in imported_names(path) & set(LIB):
        other = LIB[imported].parent.name
        if other == layer:
            continue
        assert LAYER_RANK[other] < LAYER_RANK[layer], "%s (%s) imports %s from layer %s, which is not below it" % (
            path.relative_to(ROOT), layer, imported, other)


def test_no_import_cycles():
    graph = {name: imported_names(path) & (set(LIB) | set(FIRMWARE)) - {name}
             for name, path in {**LIB, **FIRMWARE}.items()}
    state = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", "import cycle: " + " -> ".join(trail[trail.index(name):] + [name])
        state[name] = "open"
        for imported in sorted(graph[name]):
            visit(imported, trail + [name])
        state[name] = "done"

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for name in sorted(graph):
        visit(name, [])


def test_the_checks_see_a_cycle_and_an_upward_import(tmp_path):
    """The reader above finds imports wherever they are; a checker that sees nothing would pass everything."""
    sample = tmp_path / "sample.py"
    sample.write_text("import fleet\n\ndef later():\n    from controller import Controller\n    import app\n")
    assert imported_names(sample) == {"fleet", "controller", "app"}
