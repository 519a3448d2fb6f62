"""Run the benchmarks in bench/ under the MicroPython unix port and print their reports.

    python tools/bench.py [NAME ...]      (NAME: bench_<NAME>.py; default: all)

Each bench/bench_*.py is a MicroPython script that prints its own figures.
Numbers are reported, never asserted: the machines are shared and noisy.
The scripts see lib/, firmware/, host_tests/support/ and host_tests/fakes/.
"""

import os
import subprocess
import sys
from pathlib import Path

import source_tree

ROOT = Path(__file__).resolve().parent.parent
MICROPYPATH = source_tree.search_path("bench", "host_tests/support", "host_tests/fakes")


def main():
    wanted = set(sys.argv[1:])
    scripts = sorted((ROOT / "bench").glob("bench_*.py"))
    micropython = Path(sys.executable).parent / "micropython"
    env = dict(os.environ, MICROPYPATH=MICROPYPATH)
    failed = 0
    for script in scripts:
        if wanted and script.stem[len("bench_") :] not in wanted:
            continue
        print("== %s" % script.stem, flush=True)
        failed += subprocess.run([str(micropython), str(script)], env=env, cwd=ROOT).returncode != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
