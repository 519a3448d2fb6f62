"""The fuzzers of tools/fuzz.py, a few thousand inputs per parser with a fixed seed, on the MicroPython unix port.

`make fuzz N=100000` runs the same with more inputs. Any escaped exception, hang or wrong value accepted
fails; so does a fuzzer that never gets a value through (it would be testing only the refusals).
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARSERS = ("modbus", "meters", "hm_fragments", "hm_answers", "mqtt", "http", "sunspec")
LINE = re.compile(
    r"^(\w+)\s+inputs (\d+)  escaped (\d+)  hangs (\d+)  heap ([+-]\d+) B  wrong (\d+)  \(values checked (\d+)\)$"
)


def test_every_parser_survives_its_fuzzer():
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "fuzz.py"), "--n", "2500", "--seed", "12"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    results = {}
    for line in done.stdout.splitlines():
        match = LINE.match(line)
        if match:
            results[match.group(1)] = [int(value) for value in match.groups()[1:]]
    assert set(results) == set(PARSERS), done.stdout + done.stderr
    for name, (inputs, escaped, hangs, heap, wrong, checked) in results.items():
        assert inputs == 2500 and escaped == hangs == wrong == 0, (name, done.stdout)
        assert checked > 100, (name, done.stdout)
        assert heap < 16384, (name, done.stdout)  # a leak grows with the inputs; this is one GC's noise
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_wrong_value_fails_the_run(monkeypatch, capsys):
    import fuzz
    import fuzz_targets

    def run(name, n, seed):
        result = fuzz_targets.Result()
        result.inputs, result.checked = n, n
        if name == "meters":
            result.wrong = 1
            result.note("wrong", "power 500 dW was not on the meter")
        return result

    monkeypatch.setattr(fuzz_targets, "run", run)
    assert fuzz.main(["--n", "10", "--only", "modbus"]) == 0
    assert fuzz.main(["--n", "10", "--only", "modbus,meters"]) == 1
    out = capsys.readouterr().out
    assert "meters        inputs 10  escaped 0  hangs 0  heap +0 B  wrong 1" in out and "power 500 dW" in out
    raises_exit = subprocess.run([sys.executable, str(ROOT / "tools" / "fuzz.py"), "--only", "x"], capture_output=True)
    assert raises_exit.returncode != 0 and b"unknown parser 'x'" in raises_exit.stderr
