"""`make ram`: how much heap the firmware needs, run end to end on a MicroPython binary with a given heap.

    python tools/ram.py --micropython PATH --heap KB --config {core,full} --deploy {mpy,frozen}
                        [--inverters N] [--seconds S] [--json | --breakdown]

Runs the firmware as `make hil` does (hostboard/ram_runner.py: the real
app.main() with its board file and saved configuration, on the fake `machine`
with simulated time) against real peers: a pymodbus DTSU666 on a
pseudo-terminal (host_tests/meter_emulator.py), the register-level fake
nRF24L01+ with N simulated HM inverters on its air, and for `full` a WiFi
stand-in (hostboard/wifi/), MQTT telemetry to a real Mosquitto and the HTTP
page `/` fetched every 5 simulated seconds (a browser left open on it).

  core   meter, N Hoymiles inverters (default 4), controller, fail-safe,
         supervisor, event log, energy counters; no WiFi, no MQTT, no HTTP
  full   core + WiFi + MQTT telemetry + the HTTP status server
  mpy    every module of lib/ and firmware/ compiled with mpy-cross for this
         binary (-march=x86 or x64 for native and viper code) and imported
         into RAM, as a stock image imports the device's /lib
  frozen the modules frozen into the binary (built with boards/manifest.py:
         `make mp32`), as in the image of boards/manifest_esp32.py

`--heap` is the firmware's heap: the harness (fake machine, fake chip,
simulated inverters, runner, and the fake UART, SPI bus and pins the
firmware opens, whose buffers a device keeps outside the heap) first runs
alone to measure its own live heap,
and the binary gets `-X heapsize` for both, so the GC heap is KB kB plus the
harness's share. `compat`, which the fake machine imports, counts as the
firmware's. Harness and firmware share one pool of interned strings (on a
device `machine` and `network` are built into the image, their names in
flash): the harness's share holds the strings only it interns (those that
no firmware module loaded at boot brings in its .mpy; frozen: all of them)
and the pool entries they take. Pools double as they fill (20, 40, ...
1280 entries), so that is the pool bytes for the count after boot less
those for the count without the harness's own strings; a first run up to
the "after boot" sample finds both. The firmware's strings count as its own
even where the harness interned them first. The 32-bit
build (`make mp32`) has the ESP32's object sizes and 31-bit small ints;
112 kB is the GC heap of an ESP32-WROOM with WiFi on.

Figures (kB; each sample follows gc.collect(), every 5 simulated seconds):
  peak_live_kb       the firmware's largest live heap at a sample (harness share taken off)
  free_after_boot_kb free heap at the sample 30 s after boot (every part started, first pages served)
  largest_free_kb    the smallest "largest free block" seen from boot to the end (fragmentation)
  firmware_kb        the firmware's live heap 30 s after boot
  harness_kb         the harness's own live heap, measured without the firmware
`--breakdown` then also prints where the firmware's live heap after boot
goes: each module loaded at boot imported on its own (hostboard/ram_breakdown.py,
after the modules it imports at its top), with the heap its import adds
(with .mpy files: bytecode, constants and its objects; frozen: its objects)
and the interned strings it adds; what the firmware holds beyond those
imports is the objects built at boot (buffers, tables, the parts wiring.py
makes) and the strings of modules used at boot and then dropped; last, how
many interned strings after boot are the firmware's and how many its pools
hold: one more than that takes a pool twice the size of the last.

A run `completed` when the runner reached the end with no MemoryError and no
traceback, every simulated inverter heard a limit, the meter was read, and
for `full` every page fetch was answered with 200 and the broker got
telemetry. Exit status 0 exactly then. Simulated time runs faster than real
time; figures are printed, never asserted as times.
"""

import argparse
import ast
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

import build_firmware
import source_tree

from hostboard import open_port

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "host_tests"), str(ROOT / "host_tests" / "support")]

import broker as broker_process  # noqa: E402
from meter_emulator import EmulatedMeter, MeterBus  # noqa: E402

# What `make mp32` (tools/build_mp32.sh) builds: the 32-bit unix port, plain and with boards/manifest.py frozen.
MP32_DIR = ROOT / "build" / "mp32"
MP32 = MP32_DIR / "micropython" / "ports" / "unix" / "build-m32" / "micropython-m32"
MP32_FROZEN = MP32_DIR / "micropython" / "ports" / "unix" / "build-m32-frozen" / "micropython-m32-frozen"
HARNESS_SOURCES = (
    ROOT / "hostboard" / "ram_runner.py",
    ROOT / "hostboard" / "ram_breakdown.py",
    ROOT / "hostboard" / "wifi" / "network.py",
    ROOT / "hostboard" / "wifi" / "ntptime.py",
    ROOT / "host_tests" / "fakes" / "machine.py",
    ROOT / "host_tests" / "fakes" / "nrf24_chip.py",
)
RADIO_PINS = json.loads((ROOT / "boards" / "esp32-devkitc-max3485.json").read_text())["radio"]
HARNESS_HEAP = 1 << 20  # bytes of heap for the harness-only run
AFTER_BOOT_S = 30
NODE_ID = "ram"
RUN_TIMEOUT_S = 900
PAGE_TIMEOUT_S = 10
GC_LINE = re.compile(r"GC: total: (\d+), used: (\d+), free: (\d+)")
FREE_BLOCK_LINE = re.compile(r"max free sz: (\d+)")
QSTR_LINE = re.compile(r"qstr pool: n_pool=\d+, n_qstr=(\d+), n_str_data_bytes=\d+, n_total_bytes=(\d+)")
QSTR_FIRST_POOL = 20  # entries of the first interned-string pool on the heap; each next one is twice as large


class Result:
    """One run's figures in bytes, and what the runner printed."""

    def __init__(self):
        self.samples = []  # (simulated s, total, used, largest free block)
        self.shared = 0  # (harness mode) what the harness holds that counts as the firmware's (compat)
        self.qstr = (0, 0)  # interned strings at the last sample: (count, bytes of pools and strings)
        self.qstr_after_boot = 0  # their count at the sample AFTER_BOOT_S after boot
        self.strings = []  # (harness mode) the interned strings themselves
        self.modules = []  # the modules loaded at boot
        self.firmware_strings = None  # (firmware run) the interned strings after boot that are the firmware's
        self.booted = False
        self.ended = None  # (meter requests, inverters that heard a limit), once the runner finished
        self.console = []
        self.pages_ok = 0
        self.pages_failed = []


def native_arch(micropython):
    """mpy-cross's -march for this binary's native code: x86 on a 32-bit build, x64 on a 64-bit one."""
    done = subprocess.run([micropython, "-c", "import sys; print(sys.maxsize)"], capture_output=True, text=True,
                          env=dict(os.environ, MICROPYPATH=""), timeout=30)
    if done.returncode != 0:
        raise SystemExit("ram: %s does not run: %s" % (micropython, done.stderr.strip()))
    return "x86" if int(done.stdout) < 2**32 else "x64"


def compile_mpy(sources, out, arch, flags=()):
    """Each source as out/<name>.mpy (bytecode; native and viper code for `arch`), skipping up-to-date ones.

    A module's source name is <out's name>/<name>.mpy, the __file__ it gets when imported through the link
    search_path() makes: one interned string, as build_firmware's /lib/<name>.mpy is on the device.

    .mpy files of modules no longer in `sources` are removed: nothing stale can be imported.
    """
    out.mkdir(parents=True, exist_ok=True)
    sources = list(sources)
    names = {path.stem for path in sources}
    for stale in out.glob("*.mpy"):
        if stale.stem not in names:
            stale.unlink()
    compiler = build_firmware.mpy_cross()
    for path in sources:
        target = out / (path.stem + ".mpy")
        if target.exists() and target.stat().st_mtime >= path.stat().st_mtime:
            continue
        command = [compiler, *flags, "-o", str(target), "-s", "%s/%s.mpy" % (out.name, path.stem)]
        if build_firmware.NATIVE_CODE.search(path.read_text()):
            command.append("-march=" + arch)
        done = subprocess.run(command + [str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit("ram: %s failed to compile:\n%s%s" % (path, done.stdout, done.stderr))


def search_path(micropython, deploy, workdir):
    """MICROPYPATH for the runner: the harness's .mpy, then the firmware's (.mpy files, or the frozen ones).

    The folders are linked into the runner's working directory as `h` and `lib`: a module's file name
    (its __file__, an interned string) is then lib/<name>.mpy, as on the device, not a long build path.
    """
    arch = native_arch(micropython)
    build = ROOT / "build" / "ram" / arch
    compile_mpy(HARNESS_SOURCES, build / "h", arch)
    os.symlink(build / "h", Path(workdir, "h"))
    if deploy == "frozen":
        return ".frozen:h"
    compile_mpy(build_firmware.sources(source_tree.DEVICE_DIRS).values(), build / "lib", arch,
                build_firmware.MPY_FLAGS)
    os.symlink(build / "lib", Path(workdir, "lib"))
    return "h:lib"


def settings(config, inverters, broker_port, http_port):
    """The saved configuration of each variant, as an installer would set it with cfg.set()."""
    values = {
        "export_limit_w": 0,
        "meter_type": "dtsu666",
        "http_enabled": False,
        "inverters": [{"serial": "1141%08d" % (index + 1), "rated_w": 800, "phase": index % 3 + 1, "inputs": 2}
                      for index in range(inverters)],
    }
    if config == "full":
        values.update(wifi_ssid="plant", wifi_password="secret-wifi", mqtt_server="127.0.0.1",
                      mqtt_port=broker_port, mqtt_node_id=NODE_ID, http_enabled=True, http_port=http_port)
    return values


def run_once(micropython, heap_bytes, path, workdir, fd, inverters, seconds, mode, http_port=None):
    """The runner once (mode: harness, core or pages); returns a Result. Pages are fetched on "@page" lines."""
    env = dict(os.environ, MICROPYPATH=path)
    command = [micropython, "-X", "heapsize=%d" % heap_bytes, "-m", "ram_runner", str(workdir), str(fd),
               str(inverters), str(seconds), mode]
    result = Result()
    fetcher = None
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env, cwd=workdir, pass_fds=[fd])
    timer = threading.Timer(RUN_TIMEOUT_S, process.kill)
    timer.start()
    try:
        sample = None
        sample_s = 0
        for line in process.stdout:
            words = line.split()
            if words[:1] == ["@sample"]:
                sample = [int(words[1])]
                sample_s = sample[0]
            elif sample is not None and GC_LINE.search(line):
                sample += [int(value) for value in GC_LINE.search(line).groups()[:2]]
            elif sample is not None and FREE_BLOCK_LINE.search(line):
                sample.append(int(FREE_BLOCK_LINE.search(line).group(1)))
                result.samples.append(tuple(sample))
                sample = None
            elif words[:1] == ["@page"]:
                fetcher = threading.Thread(target=_fetch_page, args=(http_port, result, process.stdin), daemon=True)
                fetcher.start()
            elif words[:1] == ["@shared"]:
                result.shared = int(words[1])
            elif QSTR_LINE.search(line):
                result.qstr = tuple(int(value) for value in QSTR_LINE.search(line).groups())
                if sample_s <= AFTER_BOOT_S:
                    result.qstr_after_boot = result.qstr[0]
            elif line.startswith("Q(") and mode == "harness":
                result.strings.append(line.rstrip()[2:-1])
            elif words[:1] == ["@modules"]:
                result.modules = words[1:]
            elif words[:1] == ["@booted"]:
                result.booted = True
            elif words[:1] == ["@end"]:
                result.ended = (int(words[1]), int(words[2]))
            elif not line.startswith("mem:") and not line.startswith("stack:"):
                result.console.append(line.rstrip())
    finally:
        process.wait()
        timer.cancel()
        if fetcher is not None:
            fetcher.join(10)
    return result


def _fetch_page(port, result, done):
    """GET / like a browser, then tell the runner (which paces simulated time meanwhile)."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=PAGE_TIMEOUT_S) as response:
            response.read()
            result.pages_ok += 1
    except Exception as error:  # noqa: BLE001 - any failure is the page's, and the runner must hear "done"
        result.pages_failed.append(repr(error))
    try:
        done.write("done\n")
        done.flush()
    except OSError:
        pass  # the runner is gone; its output says why


def mpy_strings(path):
    """The interned strings a .mpy file brings (its qstr table, less those built into MicroPython)."""
    data = Path(path).read_bytes()
    at = 4  # the header: "M", version, features, small-int bits

    def uint():
        nonlocal at
        value = 0
        while True:
            byte = data[at]
            at += 1
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                return value

    count = uint()
    uint()  # the number of constant objects
    strings = []
    for _ in range(count):
        length = uint()
        if not length & 1:  # (odd: a built-in string's index)
            strings.append(data[at : at + (length >> 1)].decode())
            at += (length >> 1) + 1
    return strings


def pool_bytes(count, word):
    """Heap bytes of the pools holding `count` interned strings: 20 entries, then twice as many each time."""
    total, entries = 0, QSTR_FIRST_POOL
    while count > 0:
        size = 6 * word + (word + 3) * entries  # header; per entry a pointer, a 2-byte hash and a length byte
        total += -(-size // (4 * word)) * 4 * word  # whole GC blocks
        count -= entries
        entries *= 2
    return total


def harness_strings(harness, probe, word, firmware):
    """What the harness's own interned strings hold in the firmware's run (their bytes and the pool entries),
    and how many interned strings after boot are then the firmware's.

    Its own: the strings it interned that no firmware module loaded at boot (in `probe`) brings in its .mpy
    (with `firmware` None, frozen: none; the firmware's are in the image). The pools double as they fill,
    so these are the pool bytes for the run's count less those for the count without the harness's own.
    """
    theirs = set()
    for name in probe.modules if firmware else ():
        if (firmware / (name + ".mpy")).exists():
            theirs.update(mpy_strings(firmware / (name + ".mpy")))
    own = [text for text in harness.strings if text not in theirs]
    count = probe.qstr_after_boot
    held = pool_bytes(count, word) - pool_bytes(count - len(own), word) + sum(len(text.encode()) + 1 for text in own)
    return held, count - len(own)


def firmware_dir(path, workdir):
    """The folder of the firmware's .mpy files (None: frozen into the binary)."""
    return None if path.startswith(".frozen") else Path(workdir, "lib")


def _fresh(workdir):
    """Remove what a run saved (event log, energy, supervisor state): the next run starts as after a flash."""
    for entry in Path(workdir).iterdir():
        if entry.name in ("board.json", "config.json", "h", "lib"):
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def measure(micropython, heap_kb, config, deploy, inverters=4, seconds=180):
    """One run of the firmware; returns (figures dict, Result, text lines for the report)."""
    micropython = str(Path(micropython).resolve())
    if config == "full" and not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")):
        raise SystemExit("ram: the full configuration needs Mosquitto (apt-get install mosquitto)")
    word = 4 if native_arch(micropython) == "x86" else 8
    block = 4 * word  # a GC block is 4 words
    dtsu = EmulatedMeter("dtsu666", address=1)
    dtsu.set(phase_power_w=[300.0, 250.0, 200.0], voltage_v=[230.0] * 3,
             current_a=[300.0 / 230, 250.0 / 230, 200.0 / 230], frequency_hz=50.0)
    with tempfile.TemporaryDirectory(prefix="ram-") as workdir, MeterBus(dtsu) as meter_bus:
        path = search_path(micropython, deploy, workdir)
        board = json.loads((ROOT / "boards" / "host.json").read_text())
        board["radio"] = RADIO_PINS
        Path(workdir, "board.json").write_text(json.dumps(board))
        fd = open_port(meter_bus.port, 9600, "N", 1)
        try:
            harness = run_once(micropython, HARNESS_HEAP, path, workdir, fd, inverters, seconds, "harness")
            if not harness.samples:
                raise SystemExit("ram: the harness alone did not run:\n" + "\n".join(harness.console))
            _, total, used, _ = harness.samples[-1]
            harness_bytes = used - harness.shared - harness.qstr[1]  # its interned strings: below
            mode = "pages" if config == "full" else "core"
            with contextlib.ExitStack() as stack:
                broker_port = http_port = 0
                if config == "full":
                    broker = stack.enter_context(broker_process.running())
                    broker_port, http_port = broker.port, broker_process.free_port()
                Path(workdir, "config.json").write_text(
                    json.dumps(settings(config, inverters, broker_port, http_port)))
                # A first run up to the "after boot" sample, with room to spare: which strings the firmware
                # interns, and so what the harness's own strings add to the pools (see the module docstring).
                probe = run_once(micropython, HARNESS_HEAP, path, workdir, fd, inverters, AFTER_BOOT_S, mode,
                                 http_port)
                _fresh(workdir)
                held, firmware_strings = harness_strings(harness, probe, word, firmware_dir(path, workdir))
                harness_bytes += held
                # -X heapsize gives the GC a little less (its tables): ask for enough to get the wanted total.
                heap_bytes = math.ceil((heap_kb * 1024 + harness_bytes) * HARNESS_HEAP / total)
                result = run_once(micropython, heap_bytes, path, workdir, fd, inverters, seconds, mode, http_port)
                result.firmware_strings = firmware_strings
                published = broker.log().count("Received PUBLISH from " + NODE_ID) if config == "full" else None
        finally:
            os.close(fd)
    return _figures(result, harness_bytes, block, config, inverters, published, dtsu.reads)


def _figures(result, harness_bytes, block, config, inverters, published, meter_reads):
    samples = result.samples
    console = "\n".join(result.console)
    booted = result.booted
    problems = []
    if "MemoryError" in console:
        problems.append("MemoryError")
    if result.ended is None:
        problems.append("the runner did not reach the end")
    if "Traceback" in console:
        problems.append("a traceback in the firmware's output")
    if result.ended is not None:
        requests, heard = result.ended
        if not requests or not meter_reads:
            problems.append("the meter was never read")
        if heard < inverters:
            problems.append("%d of %d inverters heard a limit" % (heard, inverters))
    if config == "full":
        if result.pages_failed or not result.pages_ok:
            problems.append("pages fetched %d, failed %d %s" % (result.pages_ok, len(result.pages_failed),
                                                                result.pages_failed[:1]))
        if not published:
            problems.append("no MQTT message reached the broker")
    after_boot = [s for s in samples if s[0] <= AFTER_BOOT_S]
    boot = after_boot[-1] if after_boot else None
    figures = {
        "booted": booted,
        "completed": booted and not problems,
        "peak_live_kb": _kb(max(s[2] for s in samples) - harness_bytes) if samples else None,
        "free_after_boot_kb": _kb(boot[1] - boot[2]) if boot else None,
        "largest_free_kb": _kb(min(s[3] for s in samples) * block) if samples else None,
        "firmware_kb": _kb(boot[2] - harness_bytes) if boot else None,
        "harness_kb": _kb(harness_bytes),
    }
    notes = problems + ["meter requests %s, meter answers %d, pages %d, MQTT messages %s" % (
        result.ended[0] if result.ended else "?", meter_reads, result.pages_ok, published)]
    return figures, result, notes


def import_order(names):
    """`names` with each module after the modules it imports at its top level (those among `names`)."""
    paths = build_firmware.sources(source_tree.DEVICE_DIRS)
    order = []

    def visit(name, seen):
        if name in order or name in seen:
            return
        seen.add(name)
        for node in ast.parse(paths[name].read_text()).body:
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                found = [node.module]
            else:
                continue
            for other in found:
                if other in names:
                    visit(other, seen)
        order.append(name)

    for name in sorted(names):
        visit(name, set())
    return order


def breakdown(micropython, deploy, modules, firmware_kb, harness_kb, firmware_strings=None):
    """The text lines of --breakdown: per module its import's heap and strings, then what the imports leave."""
    micropython = str(Path(micropython).resolve())
    firmware = set(build_firmware.sources(source_tree.DEVICE_DIRS))
    names = import_order([name for name in modules if name in firmware])
    with tempfile.TemporaryDirectory(prefix="ram-") as workdir:
        path = search_path(micropython, deploy, workdir)
        done = subprocess.run([micropython, "-X", "heapsize=%d" % HARNESS_HEAP, "-m", "ram_breakdown", *names],
                              capture_output=True, text=True, env=dict(os.environ, MICROPYPATH=path), cwd=workdir,
                              timeout=RUN_TIMEOUT_S)
    rows = []
    strings = None
    for line in done.stdout.splitlines():
        words = line.split()
        if words[:1] == ["@import"]:
            rows.append([words[1], int(words[2]), words[3:]])
        elif QSTR_LINE.search(line):
            count, total = (int(value) for value in QSTR_LINE.search(line).groups())
            data = int(re.search(r"n_str_data_bytes=(\d+)", line).group(1))
            if strings is not None and rows:
                rows[-1][1] -= (total - data) - (strings[2] - strings[1])  # the pools that grew: not the module's
                rows[-1][3:] = [count - strings[0], data - strings[1]]
            strings = (count, data, total)
    if len(rows) != len(names) or any(len(row) < 5 for row in rows):
        raise SystemExit("ram: the breakdown did not run:\n" + done.stdout[-2000:] + done.stderr[-2000:])
    lines = ["%-16s %8s %8s %8s  %s" % ("module", "heap kB", "strings", "str kB", "(also loaded)")]
    for name, heap, others, count, data in sorted(rows, key=lambda row: -row[1]):
        lines.append("%-16s %8.1f %8d %8.1f  %s" % (name, heap / 1024, count, data / 1024, " ".join(others)))
    heap = sum(row[1] for row in rows)
    count = sum(row[3] for row in rows)
    data = sum(row[4] for row in rows)
    lines.append("%-16s %8.1f %8d %8.1f" % ("imports", heap / 1024, count, data / 1024))
    lines.append("firmware after boot %.1f kB (harness %.1f kB off): imports %.1f kB + their strings %.1f kB, "
                 "the rest %.1f kB: objects built at boot, the pools of interned strings, strings of modules "
                 "dropped after boot" % (firmware_kb, harness_kb, heap / 1024, data / 1024,
                                         firmware_kb - (heap + data) / 1024))
    if firmware_strings is not None:
        word = 4 if native_arch(micropython) == "x86" else 8
        entries = QSTR_FIRST_POOL
        while entries < firmware_strings:
            entries = 2 * entries + QSTR_FIRST_POOL  # 20, 60, 140, ... entries in all once each pool is full
        lines.append("interned strings after boot: %d the firmware's; its pools (%.1f kB) hold %d, the next pool "
                     "takes %.1f kB more" % (firmware_strings, pool_bytes(firmware_strings, word) / 1024, entries,
                                             (pool_bytes(entries + 1, word) - pool_bytes(entries, word)) / 1024))
    return lines


def _kb(n_bytes):
    return round(n_bytes / 1024, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--micropython", required=True, help="the MicroPython binary (e.g. the 32-bit build)")
    parser.add_argument("--heap", type=int, required=True, metavar="KB", help="the firmware's heap in kB")
    parser.add_argument("--config", required=True, choices=("core", "full"))
    parser.add_argument("--deploy", required=True, choices=("mpy", "frozen"))
    parser.add_argument("--inverters", type=int, default=4, metavar="N", help="simulated HM inverters")
    parser.add_argument("--seconds", type=int, default=180, metavar="S", help="simulated seconds to run")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object with the figures")
    output.add_argument("--breakdown", action="store_true", help="also print the heap per module loaded at boot")
    args = parser.parse_args(argv)
    if shutil.which(args.micropython) is None:
        raise SystemExit("ram: no such binary %s (make mp32 builds the 32-bit one)" % args.micropython)
    figures, result, notes = measure(args.micropython, args.heap, args.config, args.deploy, args.inverters,
                                     args.seconds)
    if args.json:
        print(json.dumps(figures))
    else:
        print("%s, %s, %d kB heap for the firmware, %d inverters, %d s:" % (
            args.config, args.deploy, args.heap, args.inverters, args.seconds))
        for key, value in figures.items():
            print("  %-19s %s" % (key, value))
        for note in notes:
            print("  " + note)
        if args.breakdown and figures["firmware_kb"] is not None:
            for line in breakdown(args.micropython, args.deploy, result.modules, figures["firmware_kb"],
                                  figures["harness_kb"], result.firmware_strings):
                print("  " + line)
        if not figures["completed"]:
            print("firmware output:")
            for line in result.console[-40:]:
                print("  " + line)
    return 0 if figures["completed"] else 1


if __name__ == "__main__":
    sys.exit(main())
