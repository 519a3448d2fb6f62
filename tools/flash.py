"""Put a MicroPython image onto a board with esptool: erase the flash, then write the image at the chip's offset.

    python tools/flash.py --port /dev/ttyUSB0 --board esp32-devkitc-max3485 --image ESP32_GENERIC-....bin
                          [--baud 460800] [--dry-run]

The chip comes from the board file (boards/<board>.json, "chip"); the image
goes where the chip's ROM bootloader looks for the second-stage bootloader:
0x1000 on an ESP32, 0x0 on an ESP32-S3 (MicroPython's download page gives the
same). Erasing first also removes the old file system, with the saved
configuration, energy counters and event log: `make deploy` then puts the
firmware back. Problems found before esptool runs (no such port, no
permission, no image, a board without a flashable chip) end with one line
saying what to do. --dry-run prints the esptool commands.
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ROOT / "boards"
OFFSETS = {"esp32": "0x1000", "esp32s3": "0x0"}


class FlashError(Exception):
    """A problem found before flashing, said in one line."""


def esptool():
    venv_tool = shutil.which("esptool", path=str(Path(sys.executable).parent))
    return venv_tool or "esptool"


def commands(port, board, image, baud=460800):
    board_file = BOARDS / (board + ".json")
    if not board_file.is_file():
        raise FlashError("unknown board %r (boards/*.json)" % board)
    chip = json.loads(board_file.read_text())["chip"]
    if chip not in OFFSETS:
        raise FlashError("board %s has chip %r: nothing to flash (only %s)" % (board, chip, ", ".join(OFFSETS)))
    base = [esptool(), "--chip", chip, "--port", port]
    return [
        base + ["erase-flash"],
        base + ["--baud", str(baud), "write-flash", OFFSETS[chip], str(image)],
    ]


def check(port, image):
    """The port and the image are usable, else a FlashError saying what to do."""
    check_port(port)
    if not image or not Path(image).is_file():
        raise FlashError("no image %r: download one (README, Flashing) and give IMAGE=path/to/micropython.bin" % image)


def check_port(port):
    """The board's serial port exists and may be opened, else a FlashError naming it (make deploy uses it too)."""
    if not os.path.exists(port):
        raise FlashError("no serial port %s: is the board plugged in? (ls /dev/ttyUSB* /dev/ttyACM*)" % port)
    if not os.access(port, os.R_OK | os.W_OK):
        raise FlashError("no permission to open %s: join the dialout group (sudo usermod -aG dialout $USER, "
                         "then log in again)" % port)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", required=True, help="serial device of the board, e.g. /dev/ttyUSB0")
    parser.add_argument("--board", required=True, help="a board file name from boards/, without .json")
    parser.add_argument("--image", required=True, help="the MicroPython image (.bin)")
    parser.add_argument("--baud", type=int, default=460800, help="write speed (lower it if writing fails)")
    parser.add_argument("--dry-run", action="store_true", help="print the esptool commands, run nothing")
    args = parser.parse_args(argv)
    try:
        steps = commands(args.port, args.board, args.image, args.baud)
        if not args.dry_run:
            check(args.port, args.image)
    except FlashError as error:
        print("flash: %s" % error, file=sys.stderr)
        return 1
    for step in steps:
        print(shlex.join(step), flush=True)
        if not args.dry_run and subprocess.run(step).returncode != 0:
            print("flash: esptool failed on %s (see above); hold BOOT while it connects if it cannot" % args.port,
                  file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
