"""`make firmware` output, `make deploy DRY_RUN=1` commands and what deploy refuses, `make flash`."""

import subprocess
import sys
from pathlib import Path

import build_firmware
import deploy
import flash
import pytest

ROOT = Path(__file__).resolve().parent.parent
MPY_V6_3_HEADER = b"M\x06"
ARCH_XTENSAWIN = 10


def _header(path):
    data = path.read_bytes()
    return data[:2], data[2] >> 2, data[2] & 3, data[3]


def test_build_compiles_bytecode_and_native_modules(tmp_path):
    sources = tmp_path / "src"
    sources.mkdir()
    (sources / "plain.py").write_text("def f(x):\n    return x + 1\n")
    (sources / "fast.py").write_text(
        "import micropython\n\n@micropython.viper\ndef g(x: int) -> int:\n    return x << 1\n"
    )
    (sources / "boot.py").write_text("# boot\n")
    (sources / "main.py").write_text("# main\n")
    out = tmp_path / "out"
    total = build_firmware.build(out, source_dirs=(sources,), boot_dir=sources)
    plain = out / "lib" / "plain.mpy"
    fast = out / "lib" / "fast.mpy"
    assert _header(plain) == (MPY_V6_3_HEADER, 0, 0, 31)  # portable bytecode, 31-bit small ints
    magic, arch, _, _ = _header(fast)
    assert magic == MPY_V6_3_HEADER and arch == ARCH_XTENSAWIN
    assert (out / "boot.py").read_text() == "# boot\n"
    assert not (out / "lib" / "main.mpy").exists()
    assert total == plain.stat().st_size + fast.stat().st_size


def test_build_fails_on_a_compile_error(tmp_path):
    sources = tmp_path / "src"
    sources.mkdir()
    (sources / "broken.py").write_text("def f(:\n")
    with pytest.raises(SystemExit, match="broken.py failed to compile"):
        build_firmware.build(tmp_path / "out", source_dirs=(sources,), boot_dir=sources)


def test_build_of_the_real_tree_runs_on_the_unix_port(tmp_path):
    out = tmp_path / "firmware"
    build_firmware.build(out)
    assert (out / "lib" / "fleet.mpy").exists() and (out / "main.py").exists()
    micropython = Path(sys.executable).parent / "micropython"
    script = "import fleet; t = fleet.Fleet(1); t.add(0, 600); print(t.min_dw[0])"
    done = subprocess.run(
        [str(micropython), "-c", script],
        env={"MICROPYPATH": str(out / "lib")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "120"


def test_deploy_dry_run_prints_the_exact_mpremote_commands():
    done = subprocess.run(
        ["make", "-s", "deploy", "PORT=/dev/ttyUSB7", "BOARD=esp32-devkitc-max3485", "CONFIG=core", "DRY_RUN=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    steps = [line for line in done.stdout.splitlines() if "mpremote" in line and "connect" in line]
    tails = [line.split("connect /dev/ttyUSB7 ", 1)[1] for line in steps]
    assert tails[0].startswith("exec 'import os")
    assert tails[1:] == [
        "fs cp -r build/firmware/lib :",
        "fs cp build/firmware/boot.py :boot.py",
        "fs cp build/firmware/main.py :main.py",
        "fs cp boards/esp32-devkitc-max3485.json :board.json",
        "reset",
    ]
    assert "rm(\"/lib\")" in done.stdout


def test_deploy_removes_only_lib_on_the_device(tmp_path):
    """The removal snippet, run on the unix port, clears lib/ and keeps the saved configuration."""
    device = tmp_path / "device"
    (device / "lib" / "old").mkdir(parents=True)
    (device / "lib" / "stale.mpy").write_text("x")
    (device / "lib" / "old" / "gone.mpy").write_text("x")
    (device / "config.json").write_text("{}")
    micropython = Path(sys.executable).parent / "micropython"
    script = deploy.REMOVE_LIB.replace('"/lib"', repr(str(device / "lib")))
    subprocess.run([str(micropython), "-c", script], check=True)
    subprocess.run([str(micropython), "-c", script], check=True)  # a missing /lib is fine
    assert sorted(path.name for path in device.iterdir()) == ["config.json"]


def test_deploy_refuses_an_unknown_board():
    with pytest.raises(SystemExit, match="unknown board 'nope'.*esp32-devkitc-max3485"):
        deploy.commands("/dev/ttyUSB0", "nope", ROOT / "build" / "firmware")


def test_deploy_refuses_the_full_configuration_onto_a_board_without_psram_unless_the_image_is_frozen():
    build = ROOT / "build" / "firmware"
    with pytest.raises(SystemExit, match="esp32-devkitc-max3485 has no PSRAM.*FROZEN=1.*CONFIG=core"):
        deploy.commands("/dev/ttyUSB0", "esp32-devkitc-max3485", build, config="full")
    assert deploy.commands("/dev/ttyUSB0", "esp32-devkitc-max3485", build, config="core")
    assert deploy.commands("/dev/ttyUSB0", "esp32-s3-devkitc", build, config="full")  # PSRAM: the stock image


def test_deploy_onto_the_frozen_image_copies_only_the_boot_files_and_the_board():
    steps = deploy.commands("/dev/ttyUSB0", "esp32-devkitc-max3485", ROOT / "build" / "firmware", "full", frozen=True)
    tails = [step[3:] for step in steps]
    assert tails[0][0] == "exec" and 'rm("/lib")' in tails[0][1]  # modules of an older .mpy deploy would shadow
    assert tails[1:] == [
        ["fs", "cp", "build/firmware/boot.py", ":boot.py"],
        ["fs", "cp", "build/firmware/main.py", ":main.py"],
        ["fs", "cp", "boards/esp32-devkitc-max3485.json", ":board.json"],
        ["reset"],
    ]


def test_make_deploy_of_the_default_full_configuration_onto_a_wroom_fails_with_one_line():
    done = subprocess.run(["make", "-s", "deploy", "PORT=/dev/ttyUSB7", "BOARD=esp32-devkitc-autodir", "DRY_RUN=1"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0
    assert "deploy: esp32-devkitc-autodir has no PSRAM" in done.stderr and "Traceback" not in done.stderr


def test_flash_erases_then_writes_at_the_chip_offset():
    image = "ESP32_GENERIC-v1.28.0.bin"
    esp32 = flash.commands("/dev/ttyUSB0", "esp32-devkitc-max3485", image)
    s3 = flash.commands("/dev/ttyACM0", "esp32-s3-devkitc", image)
    assert [step[1:] for step in esp32] == [
        ["--chip", "esp32", "--port", "/dev/ttyUSB0", "erase-flash"],
        ["--chip", "esp32", "--port", "/dev/ttyUSB0", "--baud", "460800", "write-flash", "0x1000", image],
    ]
    assert s3[1][1:3] == ["--chip", "esp32s3"] and s3[1][-2:] == ["0x0", image]
    with pytest.raises(flash.FlashError, match="chip 'unix'"):
        flash.commands("/dev/ttyUSB0", "host", image)


def test_make_flash_without_a_board_fails_with_one_line_naming_the_port(tmp_path):
    image = tmp_path / "ESP32_GENERIC.bin"
    image.write_bytes(b"\xe9" + bytes(255))
    done = subprocess.run(["make", "-s", "flash", "PORT=/dev/ttyNOPE9", "IMAGE=%s" % image], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert ours == ["flash: no serial port /dev/ttyNOPE9: is the board plugged in? (ls /dev/ttyUSB* /dev/ttyACM*)"]
    assert done.stdout == ""
