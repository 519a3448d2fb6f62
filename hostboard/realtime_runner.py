"""The firmware on the MicroPython unix port in real time, its meter bus on a serial device.

    micropython hostboard/realtime_runner.py BOARD.json CONFIG.json FD SECONDS CHANGES.json

Started by tools/hostboard.py, which opens the serial port (a USB-RS485
adapter or a pseudo-terminal), sets its speed and format, makes it
non-blocking and passes its file descriptor FD. This is app.main() on the
fake `machine`, with the real clock: the control-loop timer fires when
ticks_ms says so, and the UART's far end is the serial device. There are no
inverters; it shows what the firmware makes of a real meter, printing
app.status() every 5 s and at the end, then the meter bus master's totals.
CHANGES.json lists [seconds, key, value]: cfg.set(key, value) at that time
from the start, as at the REPL.
"""

import json
import sys
import time

import app
import machine
from compat import ticks_diff, ticks_ms

STATUS_EVERY_MS = 5000


def main():
    board_path, config_path, fd, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(sys.argv[5]) as file:
        changes = json.load(file)
    board = app.load_board(board_path)
    bus = board["meter_bus"]
    machine.UART.wire(bus["uart"], open(fd, "r+b"), de=bus["de"])
    gateway = app.main(board_path, config_path)
    start = last_status = ticks_ms()
    while ticks_diff(ticks_ms(), start) < seconds * 1000:
        machine.run_timers(ticks_ms())
        time.sleep_ms(1)  # scheduled ticks run here
        if ticks_diff(ticks_ms(), last_status) >= STATUS_EVERY_MS:
            last_status = ticks_ms()
            gateway.status()
        if changes and ticks_diff(ticks_ms(), start) >= int(changes[0][0] * 1000):
            import cfg

            cfg.set(changes[0][1], changes.pop(0)[2])
    gateway.stop()
    gateway.status()
    master = gateway.master  # the one in use now (a new inverter list may have brought a writing one)
    print("modbus %s: ok %d, timeout %d, crc %d, exception %d, drained %d" % (
        type(master).__name__, master.ok, master.timeout, master.crc, master.exception, master.drained))


main()
