"""The firmware running on the MicroPython unix port in real time, with a REPL: the process `make repl` starts.

    micropython hostboard/repl_runner.py HOSTFS METER_FD LINK_IN_FD LINK_OUT_FD

Started by tools/repl.py, which owns the terminal. HOSTFS is the gateway's
file system (board.json, config.json, and what the firmware saves next to
it: events.log, energy.json, supervisor.json). This is app.main() as
main.py starts it on a board, on the fake `machine` with the real clock: the
meter UART's far end is METER_FD (a pseudo-terminal to a pymodbus meter, or
a USB-RS485 adapter), and the inverters are reached through the host
board's link (hostboard/hil_link.py) whose commands go out on LINK_OUT_FD
and whose radio events come back on LINK_IN_FD (both -1: no inverters).

The loop here is the chip's idle time: it hands due timers to the scheduler
(their callbacks, the control tick among them, run between bytecodes as on
the ESP32), passes inverter commands and events, and waits for input. Like
the ESP32's REPL, code typed at the prompt runs between ticks and can be
interrupted by them; while it runs (a long loop, time.sleep) the loop does
not, so the ticks wait.

stdin, one message per line, from tools/repl.py:
    x HEX        run this source (hex of UTF-8), compiled in "single" mode as the REPL does; then RS, a line of
                 one 0x1e byte, says it is done
    q            stop the gateway (app.stop()) and exit
LINK_IN_FD:  e KIND INDEX VALUE   a radio event (s sent, a acked, f failed, o output in dW), stamped on arrival
LINK_OUT_FD: c INDEX DW           a new inverter limit in deci-watts

`machine.reset()` at the prompt ends the process with exit status 3: tools/repl.py starts it again with the
same file system, meter and plant, as a reset restarts a board.
"""

import io
import select
import sys

import app
import cfg
import machine
import micropython
from compat import ticks_diff, ticks_ms
from hil_link import HilLink

DONE = "\x1e"  # tells tools/repl.py that the input has run
RESET_STATUS = 3
IDLE_MS = 20  # longest wait for input between two looks at the timers


class _Reset(Exception):
    pass


def _reset():
    raise _Reset()


class MeterLine:
    """The UART's far end: what the firmware sends goes out in one write per frame, after the tick.

    The fake UART hands bytes over as their stop bits pass; on a busy PC a frame could leave in two pieces,
    with a gap a Modbus slave takes for the end of a frame. Collected here and written by the idle loop
    (never inside a tick), a frame always leaves whole. Allocates per frame (host only)."""

    def __init__(self, fd):
        self.file = open(fd, "r+b")
        self.out = bytearray()

    def write(self, buf):
        self.out.extend(buf)
        return len(buf)

    def readinto(self, buf):
        return self.file.readinto(buf)

    def carry(self):
        if self.out:
            self.file.write(self.out)
            self.out = bytearray()


class Runner:
    def __init__(self, hostfs, meter_fd, link_in_fd, link_out_fd):
        board = app.load_board(hostfs + "/board.json")
        bus = board["meter_bus"]
        self.meter_line = MeterLine(meter_fd)
        machine.UART.wire(bus["uart"], self.meter_line, de=bus["de"])
        machine.reset = _reset
        self.link = None
        self.link_in = open(link_in_fd, "rb") if link_in_fd >= 0 else None
        self.link_out = open(link_out_fd, "w") if link_out_fd >= 0 else None
        self.events = []
        self.poller = select.poll()
        self.poller.register(sys.stdin, select.POLLIN)
        if self.link_in is not None:
            self.poller.register(self.link_in, select.POLLIN)
        self.names = {"app": app, "cfg": cfg, "machine": machine}
        app.main(hostfs + "/board.json", hostfs + "/config.json", make_links=self._links)

    def _links(self, fleet, settings):
        if self.link_in is None:
            return []
        self.link = HilLink(fleet)
        return [self.link]

    def _pass_link(self, _):
        """Scheduled, so it never runs inside a tick: events into the Fleet, new commands out."""
        link = self.link
        if link is None:
            return
        for kind, index, value in self.events:
            if index < link.fleet.count:
                link.event(kind, index, value, ticks_ms())
        self.events = []
        for index, target_dw, _ in link.take_commands():
            self.link_out.write("c %d %d\n" % (index, target_dw))

    def serve(self):
        while True:
            try:
                if not self._idle():
                    return 0
            except _Reset:
                return RESET_STATUS
            except KeyboardInterrupt:
                print("KeyboardInterrupt")
                print(DONE)

    def _idle(self):
        machine.run_timers(ticks_ms())
        for _ in range(3):  # a scheduled tick runs at a backwards jump: before the frame it sends is carried
            pass
        self.meter_line.carry()
        if self.link is not None:
            micropython.schedule(self._pass_link, None)
        due = machine.next_due_ms()
        wait_ms = IDLE_MS if due is None else max(0, min(IDLE_MS, ticks_diff(due, ticks_ms())))
        for stream, _ in self.poller.poll(wait_ms):
            if stream is self.link_in:
                words = self.link_in.readline().split()
                if words:
                    self.events.append((words[1].decode(), int(words[2]), int(words[3])))
            elif not self._command(sys.stdin.readline()):
                return False
        return True

    def _command(self, line):
        if not line or line.startswith("q"):
            return False
        source = bytes.fromhex(line[2:].strip()).decode()
        try:
            exec(compile(source, "<stdin>", "single"), self.names)
        except _Reset:
            raise
        except SystemExit:
            return False
        except BaseException as error:  # noqa: BLE001 - the REPL prints every error and goes on
            _print_exception(error)
        print(DONE)
        return True


def _print_exception(error):
    """The traceback as the board's REPL prints it: without this runner's own frame."""
    text = io.StringIO()
    sys.print_exception(error, text)
    lines = text.getvalue().split("\n")
    if len(lines) > 1 and "repl_runner.py" in lines[1]:
        del lines[1]
    sys.stdout.write("\n".join(lines))


def main():
    args = sys.argv[1:]
    runner = Runner(args[0], int(args[1]), int(args[2]), int(args[3]))
    print(DONE)
    status = runner.serve()
    app.stop()
    sys.exit(status)


main()
