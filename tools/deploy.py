"""Put the compiled firmware and a board file onto an ESP32 with mpremote: staged first, then swapped in.

    python tools/deploy.py --port /dev/ttyUSB0 --board esp32-devkitc-max3485 --config {core,full} [--frozen]
                           [--dry-run]

A failed or interrupted copy must leave the board running the firmware it
had, so nothing the board runs is touched until the new build is complete
on it:
1. The new tree is assembled on the PC in build/deploy/deploy.new/ (lib/,
   boot.py, main.py, and boards/<board>.json as board.json).
2. On the board, leftovers of an earlier failed deploy (/deploy.new,
   /deploy.old) are removed.
3. The tree is copied to /deploy.new on the board.
4. The swap, on the board: every staged file is checked against the size it
   has on the PC; if one is missing or differs, nothing is swapped and the
   deploy fails. Else /lib is renamed to /deploy.old and /deploy.new/lib to
   /lib, then boot.py, main.py and board.json are renamed into place, and
   the old files are removed. LittleFS commits each rename atomically; a
   power cut between the two renames of /lib leaves the board without /lib
   (main.py then says so and the REPL stays free) until a deploy again.
5. Reset.
Files outside /lib (the saved configuration, energy counters, the event
log) are left alone. Without a board on the port, or when mpremote fails,
it stops with one line saying so (and that the board keeps its firmware
when the swap has not run). --dry-run prints the exact commands instead.

--config says what the gateway will run: `core` (meter, inverters, control,
supervisor, logs; no WiFi) or `full` (core with WiFi, MQTT and the HTTP
server). With `.mpy` files in RAM, `full` needs a board with PSRAM (the board
file's "psram"; `make ram` shows why), so onto a board without it `full` is
refused unless --frozen says the board runs the image with the firmware
frozen in (boards/manifest_esp32.py). With --frozen the image already holds
every module: only boot.py, main.py and the board file are staged, and the
swap removes /lib.
"""

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import flash

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ROOT / "boards"
STAGE = "deploy.new"  # the staging folder, on the PC (under build/deploy/) and in the board's root
OLD = "deploy.old"  # where the replaced /lib goes until the swap is done
TOP_FILES = ("boot.py", "main.py", "board.json")

# Runs on the device (and on the unix port in the tests, with another root): remove a tree if it exists
# (mpremote's rm -r fails on a missing path).
_RM = (
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
)


def clean_snippet(root=""):
    """Device code: remove what an earlier failed deploy left (the staging folder, the old /lib)."""
    return _RM + "rm(%s)\nrm(%s)\n" % (json.dumps(root + "/" + STAGE), json.dumps(root + "/" + OLD))


def swap_snippet(manifest, frozen=False, root=""):
    """Device code: check the staged files against `manifest` ({path: bytes}), then rename them into place.

    Raises (and swaps nothing) when a staged file is missing or has another size."""
    return _RM + (
        "R = %s\n"
        "S = R + \"/%s\"\n"
        "for name, size in %s.items():\n"
        "    try:\n"
        "        got = os.stat(S + \"/\" + name)[6]\n"
        "    except OSError:\n"
        "        got = -1\n"
        "    if got != size:\n"
        "        raise OSError(\"deploy: staged %%s has %%d bytes, not %%d: nothing swapped\" %% (name, got, size))\n"
        "def put(name):\n"
        "    try:\n"
        "        os.rename(S + \"/\" + name, R + \"/\" + name)\n"
        "    except OSError:  # FAT refuses to rename onto an existing file (LittleFS replaces it)\n"
        "        os.remove(R + \"/\" + name)\n"
        "        os.rename(S + \"/\" + name, R + \"/\" + name)\n"
        "try:\n"
        "    os.rename(R + \"/lib\", R + \"/%s\")\n"
        "except OSError:\n"
        "    pass  # no /lib yet\n"
        "%s"
        "for name in %s:\n"
        "    put(name)\n"
        "rm(R + \"/%s\")\n"
        "rm(S)\n"
        "print(\"deploy: swapped in\")\n"
    ) % (json.dumps(root), STAGE, json.dumps(manifest), OLD, "" if frozen else "put(\"lib\")\n",
         json.dumps(TOP_FILES), OLD)


def mpremote():
    venv_tool = shutil.which("mpremote", path=str(Path(sys.executable).parent))
    return _shown(venv_tool) if venv_tool else "mpremote"


def _shown(path):
    """Paths inside the repository are shown relative to it, as `make deploy` runs them."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def board_file(board, config, frozen):
    path = BOARDS / (board + ".json")
    if not path.is_file():
        known = ", ".join(sorted(path.stem for path in BOARDS.glob("*.json")))
        raise SystemExit("deploy: unknown board %r (known: %s)" % (board, known))
    if config == "full" and not frozen and not json.loads(path.read_text())["psram"]:
        raise SystemExit("deploy: %s has no PSRAM: the full configuration (WiFi, MQTT, HTTP) does not fit with the "
                         "firmware in RAM; flash the frozen image and add FROZEN=1, or deploy CONFIG=core" % board)
    return path


def stage(build_dir, board_path, stage_parent, frozen=False):
    """Assemble the tree to copy in stage_parent/deploy.new; returns its manifest {relative path: bytes}."""
    tree = stage_parent / STAGE
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    if not frozen:
        shutil.copytree(build_dir / "lib", tree / "lib")
    shutil.copy(build_dir / "boot.py", tree / "boot.py")
    shutil.copy(build_dir / "main.py", tree / "main.py")
    shutil.copy(board_path, tree / "board.json")
    files = sorted(path for path in tree.rglob("*") if path.is_file())
    return {path.relative_to(tree).as_posix(): path.stat().st_size for path in files}


def commands(port, stage_parent, manifest, frozen=False):
    """The mpremote steps: clean, copy to the staging folder, swap, reset."""
    base = [mpremote(), "connect", port]
    return [
        base + ["exec", clean_snippet()],
        base + ["fs", "cp", "-r", _shown(stage_parent / STAGE), ":"],
        base + ["exec", swap_snippet(manifest, frozen)],
        base + ["reset"],
    ]


def run(steps, port):
    """Run the steps; a failure is one line (the board keeps its old firmware unless the swap had begun)."""
    for number, step in enumerate(steps):
        print(shlex.join(step), flush=True)
        if subprocess.run(step, cwd=ROOT).returncode != 0:
            kept = "the board keeps the firmware it had" if number < 2 else "check the board's REPL"
            return "deploy: mpremote failed on %s at step %d of %d (see above); %s" % (port, number + 1, len(steps),
                                                                                       kept)
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", required=True, help="serial device of the board, e.g. /dev/ttyUSB0")
    parser.add_argument("--board", required=True, help="a board file name from boards/, without .json")
    parser.add_argument("--config", required=True, choices=("core", "full"),
                        help="core: no WiFi; full: with WiFi, MQTT and HTTP")
    parser.add_argument("--frozen", action="store_true", help="the board runs the image with the firmware frozen in")
    parser.add_argument("--build", type=Path, default=ROOT / "build" / "firmware", help="compiled tree")
    parser.add_argument("--dry-run", action="store_true", help="print the mpremote commands, run nothing")
    args = parser.parse_args(argv)
    board_path = board_file(args.board, args.config, args.frozen)
    if not (args.build / "lib").is_dir():
        raise SystemExit("deploy: %s has no compiled tree: run `make firmware` first" % args.build)
    stage_parent = args.build.parent / "deploy"
    steps = commands(args.port, stage_parent, stage(args.build, board_path, stage_parent, args.frozen), args.frozen)
    if args.dry_run:
        for step in steps:
            print(shlex.join(step))
        return 0
    try:
        flash.check_port(args.port)
    except flash.FlashError as error:
        raise SystemExit("deploy: %s" % error) from None
    problem = run(steps, args.port)
    if problem:
        raise SystemExit(problem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
