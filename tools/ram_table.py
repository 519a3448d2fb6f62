"""`make ram`: tools/ram.py's four runs (.mpy in RAM or frozen, core or full) on the 32-bit build, as a table.

    python tools/ram_table.py --micropython PLAIN --frozen FROZEN [--heap 112] [--seconds 180] [--smallest]

PLAIN is the 32-bit unix port without frozen modules (`.mpy` in RAM, as a
stock image), FROZEN the same built with boards/manifest.py (`make mp32`
builds both). Each row is one run with a `--heap` kB heap for the firmware
and 4 simulated inverters. With --smallest, each row also gets the smallest
heap (in steps of STEP_KB) with which the run still completes, found by
bisection (fragmentation can make that figure move by a step from one
build to the next).
"""

import argparse
import sys

import ram

ROWS = (("mpy", "core"), ("mpy", "full"), ("frozen", "core"), ("frozen", "full"))
STEP_KB = 4
SMALLEST_RANGE_KB = (32, 512)


def smallest_heap_kb(binary, config, deploy, seconds):
    """The smallest heap (a multiple of STEP_KB) with which the run completes, or None up to the range's top."""
    low, high = SMALLEST_RANGE_KB  # low fails (assumed), high is checked
    if not ram.measure(binary, high, config, deploy, seconds=seconds)[0]["completed"]:
        return None
    while high - low > STEP_KB:
        middle = (low + high) // 2 // STEP_KB * STEP_KB
        if ram.measure(binary, middle, config, deploy, seconds=seconds)[0]["completed"]:
            high = middle
        else:
            low = middle
    return high


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--micropython", required=True, help="the 32-bit build without frozen modules")
    parser.add_argument("--frozen", required=True, help="the 32-bit build with boards/manifest.py frozen in")
    parser.add_argument("--heap", type=int, default=112, metavar="KB")
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--smallest", action="store_true", help="also find the smallest heap that completes")
    args = parser.parse_args(argv)
    columns = ["deploy", "config", "completed", "free after boot", "largest free block", "firmware after boot",
               "firmware peak", "harness"]
    if args.smallest:
        columns.append("smallest heap")
    print("%d kB heap for the firmware, 4 inverters, %d simulated s; kB of the 32-bit unix port's heap" % (
        args.heap, args.seconds))
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for deploy, config in ROWS:
        binary = args.frozen if deploy == "frozen" else args.micropython
        figures, _, notes = ram.measure(binary, args.heap, config, deploy, seconds=args.seconds)
        cells = [deploy, config, "yes" if figures["completed"] else "NO: " + notes[0]]
        cells += [_cell(figures[key]) for key in ("free_after_boot_kb", "largest_free_kb", "firmware_kb",
                                                  "peak_live_kb", "harness_kb")]
        if args.smallest:
            smallest = smallest_heap_kb(binary, config, deploy, args.seconds)
            cells.append("%dk" % smallest if smallest else "over %dk" % SMALLEST_RANGE_KB[1])
        print("| " + " | ".join(cells) + " |", flush=True)
    return 0


def _cell(value):
    return "-" if value is None else "%.1f" % value


if __name__ == "__main__":
    sys.exit(main())
