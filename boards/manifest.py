# The device code frozen into a MicroPython image: every module of lib/ (all layers) and firmware/, except
# boot.py and main.py, which stay files on the device's file system (main.py starts app.main()).
# Frozen bytecode runs from flash, so a module costs only its objects' heap, not its code's.
#
#   32-bit unix port (what `make ram` measures):  make mp32  (tools/build_mp32.sh build/mp32 boards/manifest.py)
#   ESP32 image (not built here):  boards/manifest_esp32.py, which adds the port's own frozen modules first.
#
# A manifest runs with its own folder as the current directory, and with MicroPython's freeze() etc. defined.
# ruff: noqa: F821
import os

BOOT_FILES = ("boot.py", "main.py")

for layer in sorted(os.listdir("../lib")):
    freeze("../lib/" + layer)
freeze("../firmware", [name for name in sorted(os.listdir("../firmware")) if name.endswith(".py")
                       and name not in BOOT_FILES])
