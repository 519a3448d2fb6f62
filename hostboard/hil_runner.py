"""The firmware on the MicroPython unix port, stepped by `make hil` (tools/hil.py) through stdin/stdout.

    micropython hostboard/hil_runner.py BOARD.json CONFIG.json START_TICKS_MS

This is app.main() as the device runs it (board file, saved configuration,
RS485 driver, Modbus master, meter driver, controller, control loop timer and
watchdog), on the fake `machine` (host_tests/fakes/machine.py) with simulated
time. The UART's far end is a `machine.Line`; its bytes travel through the
harness to a pymodbus DTSU666 on a pseudo-terminal and back. Inverter
commands go to the plant model through HilLink.

Lockstep protocol, one line per message, harness first:
    rx HEX                  bytes from the meter arrived on the line
    e KIND INDEX VALUE T    a link event (s sent, a acked, f failed, o output in dW) at tick T
    t TICKS                 run the firmware up to tick count TICKS (ms, wraps at 2**30)
        -> tx HEX           bytes the firmware put on the bus (if any)
        -> c INDEX DW T     a new inverter limit (deci-watts) commanded at tick T
        -> ok MODE VALID WDT_EXPIRED
    status                  -> app.status() lines, then "ok"
    q                       quit
"""

import sys

import app
import machine
from compat import ticks_diff
from hil_link import HilLink


class Runner:
    def __init__(self, board_path, config_path, start_ms):
        self.clock = machine.VirtualClock(start_ms)
        machine.use_clock(self.clock)
        self.line = machine.Line(4096)
        board = app.load_board(board_path)
        bus = board["meter_bus"]
        machine.UART.wire(bus["uart"], self.line, de=bus["de"])
        self.link = None
        self.app = app.main(board_path, config_path, make_links=self._links, clock=self.clock.ticks_ms)
        self._buf = bytearray(512)

    def _links(self, fleet, settings):
        self.link = HilLink(fleet)
        return [self.link]

    def run_to(self, ticks_ms):
        while True:
            due = machine.next_due_ms()
            if due is None or ticks_diff(due, ticks_ms) > 0:
                break
            self.clock.advance_to_ms(due)
            machine.run_timers(due)
            for _ in range(3):  # the scheduled tick runs at a backwards jump
                pass
        self.clock.advance_to_ms(ticks_ms)
        n = self.line.take_into(self._buf)
        if n:
            print("tx", bytes(self._buf[:n]).hex())
        for index, target_dw, t_ms in self.link.take_commands():
            print("c", index, target_dw, t_ms)
        wdt = machine.watchdog()
        expired = wdt is not None and wdt.expired(self.clock.ticks_ms())
        print("ok", self.app.controller.mode, int(self.app.reading.valid), int(expired))

    def serve(self):
        while True:
            line = sys.stdin.readline()
            if not line:
                return
            words = line.split()
            if not words:
                continue
            if words[0] == "t":
                self.run_to(int(words[1]))
            elif words[0] == "rx":
                self.line.send(bytes.fromhex(words[1]))
            elif words[0] == "e":
                self.link.event(words[1], int(words[2]), int(words[3]), int(words[4]))
            elif words[0] == "status":
                self.app.status()
                print("ok")
            elif words[0] == "q":
                return
            else:
                raise ValueError("hil_runner: unknown message %r" % line)


def main():
    Runner(sys.argv[1], sys.argv[2], int(sys.argv[3])).serve()


main()
