"""The firmware on the MicroPython unix port in real time, its meter bus on a serial device.

    micropython hostboard/realtime_runner.py BOARD.json CONFIG.json FD SECONDS

Started by tools/hostboard.py, which opens the serial port (a USB-RS485
adapter or a pseudo-terminal), sets its speed and format, makes it
non-blocking and passes its file descriptor FD. This is app.main() on the
fake `machine`, with the real clock: the control-loop timer fires when
ticks_ms says so, and the UART's far end is the serial device. There are no
inverters; it shows what the firmware makes of a real meter, printing
app.status() every 5 s and at the end.
"""

import sys
import time

import app
import machine
from compat import ticks_diff, ticks_ms

STATUS_EVERY_MS = 5000


def main():
    board_path, config_path, fd, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
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
    gateway.stop()
    gateway.status()


main()
