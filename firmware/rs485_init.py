"""rs485.open_bus and RS485's constructor: in a module of their own, loaded to open the bus at boot, then dropped
(compat.build), so their bytecode need not stay in RAM while the gateway runs (the firmware's .mpy files are
imported into RAM)."""

import machine
from rs485 import RS485

PARITIES = {"N": None, "E": 0, "O": 1}  # machine.UART's parity argument: 0 even, 1 odd


def open_bus(bus, baud=9600, parity="N", stop_bits=1):
    """The RS485 bus described by a board file's "meter_bus" entry, in 8 data bits.

    "meter_bus": {"uart": id, "tx": pin, "rx": pin, "de": pin or null, "enable_pins": [[pin, level], ...]}
    """
    if parity not in PARITIES:
        raise ValueError("parity must be N, E or O")
    uart = machine.UART(
        bus["uart"],
        baudrate=baud,
        bits=8,
        parity=PARITIES[parity],
        stop=stop_bits,
        tx=bus["tx"],
        rx=bus["rx"],
        timeout=0,
        timeout_char=0,
    )
    # Boards whose transceiver needs power or enable pins held (e.g. LilyGO T-CAN485).
    for pin, level in bus.get("enable_pins", ()):
        machine.Pin(pin, machine.Pin.OUT, value=level)
    de_pin = bus.get("de")
    de = None if de_pin is None else machine.Pin(de_pin, machine.Pin.OUT, value=0)
    char_bits = 1 + 8 + (0 if parity == "N" else 1) + stop_bits
    return RS485(uart, de, baud, char_bits)


def rs485(self, uart, de=None, baud=9600, char_bits=10):
    self._uart = uart
    self._de = de
    if de is not None:
        de.off()
    # The stream the Modbus master reads, bound once so calls go straight to the UART.
    self.readinto = uart.readinto
    self.any = uart.any
    self._uart_write = uart.write
    self._uart_flush = uart.flush
    # One character on the wire in microseconds (start, data, parity, stop bits).
    self.char_us = char_bits * 1000000 // baud
    self.frames = 0  # requests sent
    self.tx_timeouts = 0  # frames whose flush() timed out
