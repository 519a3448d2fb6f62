"""Put the compiled firmware and a board file onto an ESP32 with mpremote.

    python tools/deploy.py --port /dev/ttyUSB0 --board esp32-devkitc-max3485 --config {core,full} [--frozen]
                           [--dry-run]

Removes /lib on the device (stale modules from an older build would otherwise
shadow nothing but still take flash, or be imported if a name moved), copies
build/firmware/lib, boot.py and main.py, copies boards/<board>.json to
/board.json, then resets. Files outside /lib (the saved configuration, energy
counters, the event log) are left alone. --dry-run prints the exact commands
instead of running them.

--config says what the gateway will run: `core` (meter, inverters, control,
supervisor, logs; no WiFi) or `full` (core with WiFi, MQTT and the HTTP
server). With `.mpy` files in RAM, `full` needs a board with PSRAM (the board
file's "psram"; `make ram` shows why), so onto a board without it `full` is
refused unless --frozen says the board runs the image with the firmware
frozen in (boards/manifest_esp32.py). With --frozen the image already holds
every module: only boot.py, main.py and the board file are copied, and /lib
is removed.
"""

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ROOT / "boards"

# Runs on the device: remove /lib recursively if it exists (mpremote's rm -r fails on a missing path).
REMOVE_LIB = (
    "import os\n"
    "def rm(path):\n"
    "    try:\n"
    "        mode = os.stat(path)[0]\n"
    "    except OSError:\n"
    "        return\n"
    "    if mode & 0x4000:\n"
    "        for name in os.listdir(path):\n"
    "            rm(path + \"/\" + name)\n"
    "        os.rmdir(path)\n"
    "    else:\n"
    "        os.remove(path)\n"
    'rm("/lib")\n'
)


def mpremote():
    venv_tool = shutil.which("mpremote", path=str(Path(sys.executable).parent))
    return _shown(venv_tool) if venv_tool else "mpremote"


def _shown(path):
    """Paths inside the repository are shown relative to it, as `make deploy` runs them."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def commands(port, board, build_dir, config="core", frozen=False):
    board_file = BOARDS / (board + ".json")
    if not board_file.is_file():
        known = ", ".join(sorted(path.stem for path in BOARDS.glob("*.json")))
        raise SystemExit("deploy: unknown board %r (known: %s)" % (board, known))
    if config == "full" and not frozen and not json.loads(board_file.read_text())["psram"]:
        raise SystemExit("deploy: %s has no PSRAM: the full configuration (WiFi, MQTT, HTTP) does not fit with the "
                         "firmware in RAM; flash the frozen image and add FROZEN=1, or deploy CONFIG=core" % board)
    base = [mpremote(), "connect", port]
    lib = [] if frozen else [base + ["fs", "cp", "-r", _shown(build_dir / "lib"), ":"]]
    return [base + ["exec", REMOVE_LIB]] + lib + [
        base + ["fs", "cp", _shown(build_dir / "boot.py"), ":boot.py"],
        base + ["fs", "cp", _shown(build_dir / "main.py"), ":main.py"],
        base + ["fs", "cp", _shown(board_file), ":board.json"],
        base + ["reset"],
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", required=True, help="serial device of the board, e.g. /dev/ttyUSB0")
    parser.add_argument("--board", required=True, help="a board file name from boards/, without .json")
    parser.add_argument("--config", required=True, choices=("core", "full"),
                        help="core: no WiFi; full: with WiFi, MQTT and HTTP")
    parser.add_argument("--frozen", action="store_true", help="the board runs the image with the firmware frozen in")
    parser.add_argument("--build", type=Path, default=ROOT / "build" / "firmware", help="compiled tree")
    parser.add_argument("--dry-run", action="store_true", help="print the mpremote commands, run nothing")
    args = parser.parse_args()
    steps = commands(args.port, args.board, args.build, args.config, args.frozen)
    if not args.dry_run and not (args.build / "lib").is_dir():
        raise SystemExit("deploy: %s has no compiled tree: run `make firmware` first" % args.build)
    for step in steps:
        print(shlex.join(step), flush=True)
        if not args.dry_run:
            subprocess.run(step, check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
