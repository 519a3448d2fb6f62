"""The RS485 driver against the fake UART and transceiver (DE/RE on a pin, as a MAX3485 wires it)."""

import allocs
import machine
import rs485
from testkit import micropython_only, raises

REQUEST = bytes((0x01, 0x03, 0x20, 0x12, 0x00, 0x02, 0x6F, 0x6E))
BUS = {"uart": 2, "tx": 17, "rx": 16, "de": 4}


def _wired(de=4, baud=115200):
    machine.reset_hardware()
    line = machine.Line()
    machine.UART.wire(2, line, de=de)
    bus = dict(BUS, de=de)
    return rs485.open_bus(bus, baud=baud), line


def test_a_request_reaches_the_bus_whole_and_de_is_released():
    bus, line = _wired()
    assert bus.write(REQUEST) == len(REQUEST)
    assert line.take() == REQUEST
    de = machine.pin_state(4)
    assert de.value == 0 and de.edges == 2  # up for the frame, down after it
    assert bus._uart.truncated == 0


def test_releasing_de_before_the_last_stop_bit_would_cut_the_frame():
    # The check above can fail: a driver that drops DE right after write() loses bytes.
    machine.reset_hardware()
    line = machine.Line()
    machine.UART.wire(2, line, de=4)
    uart = machine.UART(2, baudrate=9600)
    de = machine.Pin(4, machine.Pin.OUT, value=1)
    uart.write(REQUEST)
    de.off()
    assert line.take() != REQUEST
    assert uart.truncated > 0


def test_the_answer_is_heard_and_stale_bytes_are_left_to_the_master():
    bus, line = _wired(baud=19200)
    line.send(b"\x55\xaa\x55")  # a late answer to an earlier request
    buf = bytearray(16)
    assert bus.any() == 3
    bus.write(REQUEST)
    assert bus.any() == 3  # still there: the master drains and counts them (one owner of `drained`)
    assert bus.readinto(buf) == 3
    assert bus.readinto(buf) is None
    line.send(b"\x01\x03\x04\x00\x00\x00\x00")
    assert bus.any() == 7
    assert bus.readinto(buf) == 7
    assert buf[:3] == b"\x01\x03\x04"


def test_the_receiver_is_deaf_while_de_is_high():
    machine.reset_hardware()
    line = machine.Line()
    machine.UART.wire(2, line, de=4)
    uart = machine.UART(2, baudrate=9600)
    de = machine.Pin(4, machine.Pin.OUT, value=1)
    line.send(b"\x01\x02")
    assert uart.any() == 0
    de.off()
    assert uart.any() == 0 and uart.dropped == 2


def test_auto_direction_boards_have_no_de_pin():
    bus, line = _wired(de=None)
    bus.write(REQUEST)
    assert line.take() == REQUEST
    line.send(b"\x01")
    assert bus.any() == 1


def test_frame_format_and_character_time():
    machine.reset_hardware()
    bus = rs485.open_bus(BUS, baud=9600, parity="E", stop_bits=1)
    assert bus._uart.char_bits == 11
    assert bus.char_us == 1145
    raises(ValueError, rs485.open_bus, BUS, 9600, "X")


@micropython_only
def test_write_and_read_allocate_nothing():
    bus, line = _wired(baud=1000000)
    buf = bytearray(16)

    def transaction():
        bus.write(REQUEST)
        bus.any()
        bus.readinto(buf)

    allocs.assert_free(transaction, n=200)
