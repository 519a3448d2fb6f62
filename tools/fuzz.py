"""Fuzz the code that reads what other devices send, on the MicroPython unix port.

    python tools/fuzz.py [--n 3000] [--seed 1] [--only modbus,meters,...]   # or: make fuzz N=100000

Under CPython this starts the MicroPython unix port (.venv/bin/micropython) on
itself with the device's source folders on MICROPYPATH; the fuzzing itself
runs there, on the device's interpreter. Each parser gets `n` inputs, random
and mutated from valid ones (bit flips, truncation, extension, wrong
CRC/address/function, exception answers, late and duplicated answers, noise),
built by tools/fuzz_modbus.py, fuzz_hoymiles.py and fuzz_net.py (faults in
fuzz_mutations.py, the harness in fuzz_targets.py); one line per parser:

    modbus        inputs 3000  escaped 0  hangs 0  heap +32 B  wrong 0  (values checked 1369)

`escaped`: exceptions other than the parser's own documented errors; `hangs`:
inputs not finished within their time bound (an endless loop is caught by
the caller's timeout); `heap`: live heap after gc.collect() at the end minus
after the first tenth (leaks); `wrong`: values accepted that the sender never
sent (a late answer taken for a fresh one, a corrupted frame taken as good);
`values checked`: values that got through and were found right (so the
fuzzer reached the parser's accepting path, not only its refusals).
The exit status is 1 if any parser has an escaped exception, a hang or a
wrong value: a wrong value is a failure, not a statistic.
"""

import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"
PARSERS = ("modbus", "meters", "hm_fragments", "hm_answers", "mqtt", "http", "sunspec")


def parse(argv):
    options = {"n": 3000, "seed": 1, "only": PARSERS}
    index = 0
    while index < len(argv):
        name = argv[index]
        if name in ("--n", "--seed", "--only") and index + 1 < len(argv):
            value = argv[index + 1]
            if name == "--only":
                options["only"] = tuple(value.split(","))
                for parser in options["only"]:
                    if parser not in PARSERS:
                        raise SystemExit("fuzz: unknown parser %r (one of %s)" % (parser, ", ".join(PARSERS)))
            else:
                options[name[2:]] = int(value)
            index += 2
        else:
            raise SystemExit("usage: fuzz.py [--n N] [--seed S] [--only %s]" % ",".join(PARSERS))
    return options


def run_on_micropython(argv):
    """CPython: run this file under the unix port with the device's folders on the path."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "tools"))
    import source_tree

    binary = Path(sys.executable).parent / "micropython"
    if not binary.exists():
        binary = "micropython"
    env = dict(os.environ, MICROPYPATH=source_tree.search_path("tools", "host_tests/support"))
    command = [str(binary), "-X", "heapsize=8m", str(Path(__file__).resolve())] + argv
    return subprocess.run(command, env=env).returncode


def main(argv):
    options = parse(argv)
    import fuzz_targets

    failed = False
    for name in options["only"]:
        result = fuzz_targets.run(name, options["n"], options["seed"])
        print(
            "%-13s inputs %d  escaped %d  hangs %d  heap %+d B  wrong %d  (values checked %d)"
            % (name, result.inputs, result.escaped, result.hangs, result.heap_growth, result.wrong, result.checked)
        )
        for note in result.notes[:5]:
            print("    " + note)
        failed = failed or result.escaped or result.hangs or result.wrong
    return 1 if failed else 0


if __name__ == "__main__":
    if IS_MICROPYTHON:
        sys.exit(main(sys.argv[1:]))
    sys.exit(run_on_micropython(sys.argv[1:]))
