# An ESP32 or ESP32-S3 image with the device code frozen in (not built here; README: "The frozen image"):
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/this/repository/boards/manifest_esp32.py
# FROZEN_MANIFEST replaces the port's default manifest, so that one comes first: its modules (_boot.py, which
# mounts the file system, asyncio, ntptime, ...) are in every stock image. Then the device code (manifest.py).
# ruff: noqa: F821
include("$(PORT_DIR)/boards/manifest.py")
include("manifest.py")
