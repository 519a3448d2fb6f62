"""The firmware end to end on the unix port, reporting its heap: the process `make ram` (tools/ram.py) starts.

    micropython -X heapsize=N -m ram_runner WORKDIR METER_FD INVERTERS SECONDS {harness,core,pages}

WORKDIR holds board.json and config.json (written by tools/ram.py); the
firmware keeps its event log, energy counters and supervisor state there.
This is app.main() as main.py starts it on a device, on the fake `machine`
with simulated time: the meter bus's far end is a pymodbus DTSU666 on a
pseudo-terminal (METER_FD), the board's nRF24L01+ is the register-level fake
chip (host_tests/fakes/nrf24_chip.py) with INVERTERS simulated HM inverters
on its air, and where the configuration has WiFi, the `network` and
`ntptime` stand-ins of hostboard/wifi/ say it is up; MQTT and HTTP go to the
host's loopback through real sockets. Every timer runs as it falls due, so a
simulated minute takes about a second; a request the firmware puts on the
meter bus is carried to pymodbus at once and the runner waits (real time) for
the answer, which the firmware reads at its next tick.

Modes: `harness` sets up everything but the firmware, makes the hardware
objects the firmware will open (the fake UART, SPI bus and pins hold
buffers that a device's C objects keep outside the heap: `_devices`), and
reports that, the harness's own share of the heap, which tools/ram.py
subtracts (less `compat`, which the fake `machine` imports but which is the
firmware's).
`core` runs the firmware. `pages` runs it too and, every SAMPLE_S, asks
tools/ram.py to fetch the HTTP page `/`; until the fetch is done (a line on
stdin) every timer step also waits PAGE_PACE_MS of real time (simulated time
then runs about four times faster than real time, the radio's 4 ms timer
being the most frequent), so the client gets its turn and the page is served
over the service passes of a few hundred simulated ms, as on a device.

Output, one line each, besides what the firmware prints:
    @shared BYTES         (harness mode) the firmware's modules the harness imported; after the sample,
                          micropython.qstr_info(1): the interned strings (one pool for harness and firmware)
    @booted               app.main() returned
    @modules NAME...      the modules loaded then
    @sample SECONDS       then micropython.mem_info() and qstr_info() after gc.collect() (every SAMPLE_S
                          simulated seconds)
    @page                 fetch `/` now (pages mode)
    @end REQUESTS HEARD   the run is over: meter requests carried, inverters that heard a limit
    @error                the runner itself failed (its traceback follows)

Allocation: the runner allocates a little per meter request (a memoryview)
and per sample; the fake chip and inverters allocate per radio frame. That
is garbage, collected like the firmware's; what stays live is the harness
share.
"""

import gc
import sys

import micropython

START_MS = 1000  # simulated ticks_ms at boot (far from the 2**30 wrap: the fake air's clock does not wrap)
SAMPLE_S = 5
ANSWER_WAIT_MS = 1000  # real time allowed for pymodbus to answer one request
PAGE_PACE_MS = 1  # real time per timer step while a page is being fetched


def _inverter_serial(index):
    return "1141%08d" % (index + 1)


class MeterLink:
    """Carries the firmware's meter requests to the pseudo-terminal and the meter's answers back."""

    def __init__(self, line, fd, select):
        self.line = line
        self.file = open(fd, "r+b")
        self.poller = select.poll()
        self.poller.register(self.file, select.POLLIN)
        self.out = bytearray(256)
        self.answer = bytearray(256)
        self.requests = 0

    def carry(self):
        n = self.line.take_into(self.out)
        if not n:
            return
        self.file.write(self.out, n)
        self.requests += 1
        expected = _answer_length(self.out, n)
        got = 0
        while got < expected and self.poller.poll(ANSWER_WAIT_MS):
            k = self.file.readinto(self.answer) or 0
            self.line.send(memoryview(self.answer)[:k])
            if got == 0 and k >= 2 and self.answer[1] & 0x80:
                expected = 5  # an exception answer
            got += k


def _answer_length(request, n):
    """The length of a Modbus RTU answer to `request`: reads 5 + 2 per register, writes 8."""
    if n == 8 and request[1] in (3, 4):
        return 5 + 2 * ((request[4] << 8) | request[5])
    return 8


class PageWait:
    """While tools/ram.py fetches a page: each timer step waits a little real time, until "done" on stdin."""

    def __init__(self, select, time):
        self.poller = select.poll()
        self.poller.register(sys.stdin, select.POLLIN)
        self.time = time
        self.open = False

    def pace(self):
        if not self.open:
            return
        if self.poller.poll(0):
            sys.stdin.readline()
            self.open = False
        else:
            self.time.sleep_ms(PAGE_PACE_MS)


def _radio(machine, nrf24_chip, board, count):
    """The board's nRF24 as a fake chip, with `count` HM inverters on its air."""
    air = nrf24_chip.Air(nrf24_chip.Clock(START_MS), seed=1)
    inverters = [nrf24_chip.HmInverter(_inverter_serial(index)) for index in range(count)]
    for inverter in inverters:
        air.add(inverter)
    nrf24_chip.Chip(air).wire(machine, board["radio"])
    return air, inverters


def _devices(machine, board, count):
    """The hardware objects the firmware opens (meter bus UART and DE pin; with inverters, the radio's SPI and
    pins), made here so their heap is the harness's share.

    On a device these are the port's C objects: pins and SPI buses are static, a UART takes a few dozen bytes
    of the heap and its ring buffers are the ESP-IDF driver's, outside it. The fake ones hold their buffers,
    rings and views on the heap (about 4 kB): not the firmware's. The firmware makes its own in its run; the
    same kinds, sizes and arguments here (firmware/rs485.py, wiring.py), so their share comes off once.
    """
    pin = machine.Pin
    bus = board["meter_bus"]
    made = [machine.UART(bus["uart"], baudrate=9600, bits=8, parity=None, stop=1, tx=bus["tx"], rx=bus["rx"],
                         timeout=0, timeout_char=0)]
    if bus.get("de") is not None:
        made.append(pin(bus["de"], pin.OUT, value=0))
    if count:
        pins = board["radio"]
        made.append(machine.SPI(pins["spi"], baudrate=8000000, sck=pin(pins["sck"]), mosi=pin(pins["mosi"]),
                                miso=pin(pins["miso"])))
        made += [pin(pins["csn"], pin.OUT, value=1), pin(pins["ce"], pin.OUT, value=0)]
        if pins.get("irq") is not None:
            made.append(pin(pins["irq"], pin.IN))
    return made


def _sample(seconds, inverters):
    for inverter in inverters:
        del inverter.requests[:]  # the fake keeps a request log; it is not the firmware's
    gc.collect()
    print("@sample", seconds)
    micropython.mem_info()
    micropython.qstr_info()


def run(workdir, fd, count, seconds, mode):
    gc.collect()
    before = gc.mem_alloc()
    import compat  # noqa: F401 - the fake machine's one firmware import: counted as the firmware's

    gc.collect()
    shared = gc.mem_alloc() - before
    import json
    import select
    import time

    import machine
    import network  # noqa: F401 - the WiFi stand-in: built into the device's image, so it is harness here
    import nrf24_chip
    import ntptime  # noqa: F401 - the same (a frozen module of the stock image)

    with open(workdir + "/board.json") as file:
        board = json.load(file)
    clock = machine.VirtualClock(START_MS)
    machine.use_clock(clock)
    line = machine.Line(512)
    bus = board["meter_bus"]
    machine.UART.wire(bus["uart"], line, de=bus["de"])
    meter = MeterLink(line, fd, select)
    air, inverters = _radio(machine, nrf24_chip, board, count)
    pages = PageWait(select, time) if mode == "pages" else None
    devices = _devices(machine, board, count) if mode == "harness" else None  # noqa: F841 - held for the sample
    del board, bus
    if mode == "harness":
        print("@shared", shared)
        _sample(0, inverters)
        micropython.qstr_info(1)  # the harness's interned strings, one Q(...) line each
        print("@end 0 0")
        return
    import app

    app.main(workdir + "/board.json", workdir + "/config.json", clock=clock.ticks_ms)
    print("@booted")
    print("@modules", " ".join(sys.modules))
    next_s = 0
    end_ms = START_MS + seconds * 1000
    while True:
        due = machine.next_due_ms()
        if due is None or (due > end_ms and not (pages is not None and pages.open)):
            break  # (a page still being fetched at the end is served to its end)
        if pages is not None:
            pages.pace()
        clock.advance_to_ms(due)
        air.clock.now_ms = due
        machine.run_timers(due)
        for _ in range(3):  # a scheduled tick runs at a backwards jump
            pass
        meter.carry()
        if due - START_MS >= next_s * 1000:
            _sample(next_s, inverters)
            if next_s and pages is not None and not pages.open:
                print("@page")
                pages.open = True
            next_s += SAMPLE_S
    _sample(seconds, inverters)
    app.stop()
    app.status()  # as an installer would ask at the REPL: it loads its module, and must fit too
    print("@end", meter.requests, sum(1 for inverter in inverters if inverter.limit_commands))


def main():
    args = sys.argv[1:]
    try:
        run(args[0], int(args[1]), int(args[2]), int(args[3]), args[4])
    except BaseException as error:  # noqa: BLE001 - tools/ram.py reads the outcome from the output
        print("@error")
        sys.print_exception(error)


main()
