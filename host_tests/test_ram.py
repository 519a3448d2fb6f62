"""The firmware fits an ESP32-WROOM: tools/ram.py on the 32-bit unix port with a 112 kB heap for the firmware.

112 kB is the GC heap a stock ESP32 image leaves the firmware with WiFi on. Both runs go three simulated
minutes end to end (pymodbus meter, 4 simulated HM inverters on the fake nRF24; for `full` also WiFi, MQTT to
Mosquitto and the status page fetched every 5 s) and must complete with at least 24 kB free after boot:

- `core` with `.mpy` files in RAM: what a stock image on a WROOM runs;
- `full` frozen into the image (boards/manifest_esp32.py): every feature on a WROOM.

The 32-bit builds (`make mp32`) are made here when missing (needs gcc-multilib; about a minute) and the frozen
one is brought up to date with the source (seconds); CI builds them first (.ci/run).
"""

import json
import os
import subprocess
import sys

import pytest
import ram

HEAP_KB = 112
MIN_FREE_AFTER_BOOT_KB = 24
BUILD_TIMEOUT_S = 600


def _build(*manifest):
    command = [str(ram.ROOT / "tools" / "build_mp32.sh"), str(ram.MP32_DIR), *manifest]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if done.returncode != 0:
        reason = "tools/build_mp32.sh failed (gcc-multilib installed?):\n" + done.stdout[-2000:] + done.stderr[-2000:]
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def mp32():
    if not ram.MP32.exists():
        _build()
    _build(str(ram.ROOT / "boards" / "manifest.py"))  # the frozen modules follow the source
    return ram.MP32, ram.MP32_FROZEN


def _report(figures, result, notes):
    return "%s\n%s\n%s" % (figures, "\n".join(notes), "\n".join(result.console[-30:]))


def _fits(binary, config, deploy):
    figures, result, notes = ram.measure(binary, HEAP_KB, config, deploy)
    assert figures["completed"], _report(figures, result, notes)
    assert figures["free_after_boot_kb"] >= MIN_FREE_AFTER_BOOT_KB, _report(figures, result, notes)


def test_core_with_mpy_files_in_ram_fits_a_wroom_with_a_stock_image(mp32):
    _fits(mp32[0], "core", "mpy")


def test_every_feature_frozen_into_the_image_fits_a_wroom(mp32):
    _fits(mp32[1], "full", "frozen")


def test_the_tool_prints_its_figures_as_json_and_fails_a_heap_too_small(mp32):
    done = subprocess.run(
        [sys.executable, str(ram.ROOT / "tools" / "ram.py"), "--micropython", str(mp32[1]), "--heap", "24",
         "--config", "core", "--deploy", "frozen", "--seconds", "20", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    figures = json.loads(done.stdout)
    assert set(figures) == {"booted", "completed", "peak_live_kb", "free_after_boot_kb", "largest_free_kb",
                            "firmware_kb", "harness_kb"}
    assert not figures["completed"] and done.returncode == 1
    assert 10 < figures["harness_kb"] < 40  # measured without the firmware
