"""The tool examples the docs show run as shown: each command, and the output printed under it, exactly.

A documented example is a line in a code block starting with `python tools/hoymiles.py` (continued by
trailing backslashes); the lines under it up to the next command or the end of the block are its output.
Also: tools/hoymiles.py and the gateway's settings apply one rule to a serial number (12 hex digits).
"""

import shlex
import subprocess
import sys
from pathlib import Path

import cfg_schema
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOOLS = ("python tools/hoymiles.py",)


def examples(text):
    """[(command, expected output lines)] of every documented example in `text`."""
    found = []
    in_block = False
    output = None  # the output lines of the example being read
    lines = iter(text.splitlines())
    for line in lines:
        if line.lstrip().startswith("```"):
            in_block = not in_block
            output = None
        elif in_block and line.startswith(TOOLS):
            command = line
            while command.endswith("\\"):
                command = command[:-1] + next(lines)
            output = []
            found.append((command, output))
        elif output is not None and line.strip():
            output.append(line)
    return found


CASES = [(doc.name, command, output) for doc in DOCS for command, output in examples(doc.read_text())]


def test_the_docs_have_examples_with_output():
    assert len(CASES) >= 6 and all(output for _, _, output in CASES)
    assert not any("…" in command or "..." in command for _, command, _ in CASES)


@pytest.mark.parametrize("doc, command, output", CASES, ids=[" ".join(case[1].split()[2:5]) for case in CASES])
def test_a_documented_example_prints_what_the_docs_show(doc, command, output):
    argv = shlex.split(command)
    done = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, "%s: %s\n%s" % (doc, command, done.stderr)
    assert done.stdout.splitlines() == output, doc


@pytest.mark.parametrize("serial, good", [("116171603546", True), ("1161716035", False), ("11617160354G", False),
                                          ("1161716035461", False)])
def test_the_tool_and_the_settings_take_the_same_serials(serial, good):
    tool = subprocess.run([sys.executable, "tools/hoymiles.py", "frame", "limit", "--inverter", serial, "--dtu",
                           "199980122304", "--watts", "400"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (tool.returncode == 0) == good, tool.stderr
    if not good:
        assert tool.stderr.count("\n") == 1 and "12 hexadecimal digits" in tool.stderr
    for key, value in (("inverters", [{"serial": serial, "rated_w": 600}]), ("dtu_serial", serial)):
        try:
            cfg_schema.checked(key, value)
            accepted = True
        except ValueError:
            accepted = False
        assert accepted == good, (key, serial)
