"""The meter bus: an ESP32 UART behind a half-duplex RS485 transceiver.

MicroPython's ESP32 UART has no RS485 mode, so the transceiver's DE/RE pin
is driven from here: DE high, `write()`, `flush()` (on the ESP32 it returns
after the last stop bit has left, not when the FIFO is empty), DE low. The
slave may answer 3.5 character times after our last byte (3.6 ms at 9600 Bd,
1.75 ms above 19200 Bd); the few Python opcodes between `flush()` returning
and `de.off()` take tens of microseconds, and nothing here allocates, so no
garbage collection can run in between. Boards with an auto-direction
transceiver have no DE pin (`de` is None).

The Modbus master sees a stream: `write`, `readinto`, `any`. It throws away
and counts what arrives between its transactions (a late answer, line
noise: `Master.drained`); this driver only moves bytes.

Timing: `write()` blocks for the frame's time on the wire (8-byte request:
8.3 ms at 9600 8N1, 0.7 ms at 115200). `readinto`/`any` never block
(timeout=0). Allocation: none after construction.
"""

from compat import build


class RS485:
    def __init__(self, *args, **options):
        build("rs485_init", "rs485", self, args, options)  # boot only: rs485_init.py

    def write(self, buf):
        """Send one frame; returns after its last stop bit with DE released (0 if the UART timed out)."""
        de = self._de
        if de is not None:
            de.on()
        n = self._send(buf)
        if de is not None:
            de.off()
        return n

    def _send(self, buf):
        # Apart from write() so each frame stays small enough for the C stack (a bigger
        # one goes on the heap). flush() raises OSError(ETIMEDOUT) if the transmitter
        # stalls; that becomes a count and a 0, and DE is released either way.
        try:
            self._uart_write(buf)  # short frames always fit the 256-byte TX ring buffer
            self._uart_flush()
        except OSError:
            self.tx_timeouts += 1
            return 0
        self.frames += 1
        return len(buf)


def open_bus(bus, *args, **options):
    """The RS485 bus described by a board file's "meter_bus" entry (rs485_init.py: boot only)."""
    return build("rs485_init", "open_bus", bus, args, options)
