"""`make firmware` output; `make deploy`: its commands, its device code run on the unix port, what it refuses;
`make flash`; `make help`."""

import re
import shutil
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
    assert [tail.split()[0] for tail in tails] == ["exec", "fs", "exec", "reset"]
    assert tails[1] == "fs cp -r build/deploy/deploy.new :"  # everything goes to the staging folder first
    assert 'rm("/deploy.new")' in done.stdout and '"lib/fleet.mpy": ' in done.stdout
    staged = ROOT / "build" / "deploy" / "deploy.new"
    assert (staged / "board.json").read_bytes() == (ROOT / "boards" / "esp32-devkitc-max3485.json").read_bytes()
    built = ROOT / "build" / "firmware" / "lib" / "fleet.mpy"
    assert (staged / "lib" / "fleet.mpy").read_bytes() == built.read_bytes()


class Device:
    """A board's file system in a folder, with the deploy's device code run on the unix port."""

    def __init__(self, root):
        self.root = root
        (root / "lib" / "old").mkdir(parents=True)
        (root / "lib" / "stale.mpy").write_text("old")
        (root / "lib" / "old" / "gone.mpy").write_text("old")
        for name in ("boot.py", "main.py", "board.json", "config.json"):
            (root / name).write_text("old " + name)

    def run(self, snippet):
        micropython = Path(sys.executable).parent / "micropython"
        return subprocess.run([str(micropython), "-c", snippet], capture_output=True, text=True, timeout=30)

    def files(self):
        return {path.relative_to(self.root).as_posix(): path.read_text() for path in sorted(self.root.rglob("*"))
                if path.is_file()}


def _build(tmp_path):
    build = tmp_path / "build" / "firmware"
    (build / "lib").mkdir(parents=True)
    (build / "lib" / "app.mpy").write_text("new app")
    (build / "lib" / "fleet.mpy").write_text("new fleet")
    (build / "boot.py").write_text("new boot.py")
    (build / "main.py").write_text("new main.py")
    return build


def test_deploy_swaps_a_complete_staged_copy_in_and_keeps_the_saved_files(tmp_path):
    device = Device(tmp_path / "device")
    (device.root / deploy.STAGE).mkdir()
    (device.root / deploy.STAGE / "junk.mpy").write_text("a failed deploy's")
    (device.root / deploy.OLD).mkdir()
    assert device.run(deploy.clean_snippet(str(device.root))).returncode == 0
    assert not (device.root / deploy.STAGE).exists() and not (device.root / deploy.OLD).exists()
    board = ROOT / "boards" / "esp32-devkitc-max3485.json"
    manifest = deploy.stage(_build(tmp_path), board, tmp_path / "build" / "deploy")
    assert manifest == {"board.json": board.stat().st_size, "boot.py": 11, "lib/app.mpy": 7, "lib/fleet.mpy": 9,
                        "main.py": 11}
    shutil.copytree(tmp_path / "build" / "deploy" / deploy.STAGE, device.root / deploy.STAGE)  # mpremote cp -r
    done = device.run(deploy.swap_snippet(manifest, root=str(device.root)))
    assert done.returncode == 0 and done.stdout == "deploy: swapped in\n", done.stdout + done.stderr
    assert device.files() == {"board.json": board.read_text(), "boot.py": "new boot.py",
                              "config.json": "old config.json", "lib/app.mpy": "new app", "lib/fleet.mpy": "new fleet",
                              "main.py": "new main.py"}
    assert sorted(path.name for path in device.root.iterdir()) == ["board.json", "boot.py", "config.json", "lib",
                                                                   "main.py"]


@pytest.mark.parametrize("damage", ["missing", "short"])
def test_a_failed_copy_leaves_the_old_firmware_in_place(tmp_path, damage):
    device = Device(tmp_path / "device")
    before = device.files()
    manifest = deploy.stage(_build(tmp_path), ROOT / "boards" / "host.json", tmp_path / "build" / "deploy")
    shutil.copytree(tmp_path / "build" / "deploy" / deploy.STAGE, device.root / deploy.STAGE)
    broken = device.root / deploy.STAGE / "lib" / "fleet.mpy"
    broken.unlink() if damage == "missing" else broken.write_text("new")  # a copy cut short
    done = device.run(deploy.swap_snippet(manifest, root=str(device.root)))
    assert done.returncode != 0 and "lib/fleet.mpy has %d bytes, not 9: nothing swapped" % (
        -1 if damage == "missing" else 3) in done.stdout + done.stderr
    after = device.files()
    assert {name: text for name, text in after.items() if not name.startswith(deploy.STAGE)} == before


def test_deploy_onto_the_frozen_image_stages_only_the_boot_files_and_the_board_and_removes_lib(tmp_path):
    device = Device(tmp_path / "device")
    manifest = deploy.stage(_build(tmp_path), ROOT / "boards" / "host.json", tmp_path / "build" / "deploy", frozen=True)
    assert sorted(manifest) == ["board.json", "boot.py", "main.py"]
    shutil.copytree(tmp_path / "build" / "deploy" / deploy.STAGE, device.root / deploy.STAGE)
    assert device.run(deploy.swap_snippet(manifest, frozen=True, root=str(device.root))).returncode == 0
    assert sorted(device.files()) == ["board.json", "boot.py", "config.json", "main.py"]  # no /lib to shadow frozen


def test_deploy_without_a_board_is_one_line_naming_the_port():
    done = subprocess.run(["make", "-s", "deploy", "PORT=/dev/ttyNOPE9", "CONFIG=core"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert ours == ["deploy: no serial port /dev/ttyNOPE9: is the board plugged in? (ls /dev/ttyUSB* /dev/ttyACM*)"]
    assert "mpremote" not in done.stdout


def test_mpremote_failing_during_the_copy_is_one_line_and_the_swap_never_runs(tmp_path, monkeypatch):
    log = tmp_path / "calls"
    fake = tmp_path / "mpremote"
    fake.write_text('#!/bin/sh\necho "$3" >> %s\n[ "$3" != fs ]\n' % log)
    fake.chmod(0o755)
    monkeypatch.setattr(deploy, "mpremote", lambda: str(fake))
    steps = deploy.commands("/dev/ttyUSB7", tmp_path, {"main.py": 1})
    problem = deploy.run(steps, "/dev/ttyUSB7")
    assert problem == ("deploy: mpremote failed on /dev/ttyUSB7 at step 2 of 4 (see above); the board keeps the "
                       "firmware it had")
    assert log.read_text().split() == ["exec", "fs"]  # the clean-up ran, the copy failed, no swap, no reset


def test_deploy_refuses_an_unknown_board():
    with pytest.raises(SystemExit, match="unknown board 'nope'.*esp32-devkitc-max3485"):
        deploy.board_file("nope", "core", False)


def test_deploy_refuses_the_full_configuration_onto_a_board_without_psram_unless_the_image_is_frozen():
    with pytest.raises(SystemExit, match="esp32-devkitc-max3485 has no PSRAM.*FROZEN=1.*CONFIG=core"):
        deploy.board_file("esp32-devkitc-max3485", "full", False)
    assert deploy.board_file("esp32-devkitc-max3485", "core", False)
    assert deploy.board_file("esp32-devkitc-max3485", "full", True)
    assert deploy.board_file("esp32-s3-devkitc", "full", False)  # PSRAM: the stock image


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


def test_make_help_lists_every_target_with_one_line():
    makefile = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split())
    done = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True)
    listed = [line.split()[1] for line in done.stdout.splitlines()]
    assert sorted(listed) == sorted(phony) and len(listed) == len(set(listed))
    assert all(len(line.split(None, 2)) == 3 for line in done.stdout.splitlines())  # each with its line of text
    assert subprocess.run(["make", "-s"], cwd=ROOT, capture_output=True, text=True).stdout == done.stdout
