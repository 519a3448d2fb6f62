"""A Modbus-RTU slave on the far end of a fake UART `Line`: registers in a dict, FC03/FC04.

Portable (CPython and the unix port), for firmware tests that need a meter
on the bus without a pymodbus process. `serve()` answers every complete
request the device has put on the line; a request for a register it does
not hold gets exception 2 (illegal data address), as a real meter answers.
Set `online = False` and it stays silent, like a meter with a cut cable.

Answers are built once per distinct request and kept, and requests are
read into a preallocated buffer, so once every request of a run has been
seen `serve()` allocates nothing: the firmware's tick can then be measured
under heap_lock with the slave in the loop. `set_float`/`set_word` clear
that cache.
"""

import struct

from crc16 import crc16_pure


def _framed(body):
    crc = crc16_pure(body, 0, len(body))
    return bytes(body) + bytes((crc & 0xFF, crc >> 8))


class RegisterSlave:
    def __init__(self, line, address=1):
        self.line = line
        self.address = address
        self.registers = {}
        self.online = True
        self.requests = 0
        self._buf = bytearray(64)
        self._answers = {}

    def set_word(self, register, value):
        self.registers[register] = value & 0xFFFF
        self._answers.clear()

    def set_float(self, register, value):
        """A big-endian float32 over two registers, as Chint and Eastron meters hold them."""
        raw = struct.pack(">f", value)
        self.registers[register] = (raw[0] << 8) | raw[1]
        self.registers[register + 1] = (raw[2] << 8) | raw[3]
        self._answers.clear()

    def serve(self):
        """Answer the request the device sent, if any; returns True if one was answered."""
        if self.line.take_into(self._buf) < 8 or not self.online or self._buf[0] != self.address:
            return False
        answer = self._cached_answer(self._buf)
        if answer is None:
            return False
        self.requests += 1
        self.line.send(answer)
        return True

    def _cached_answer(self, buf):
        """The answer to the request in `buf`, or None for a bad CRC. Known requests skip the CRC sum.

        Cached under the function code and the request's CRC bytes (a small int even with 31-bit
        small ints, so the lookup allocates nothing) and checked against the whole request.
        """
        cached = self._answers.get((buf[1] << 16) | (buf[6] << 8) | buf[7])
        if cached is not None and _same_request(cached[0], buf):
            return cached[1]
        return self._new_answer(buf)

    def _new_answer(self, buf):
        if crc16_pure(buf, 0, 6) != buf[6] | (buf[7] << 8):
            return None
        answer = self._answer(buf[1], (buf[2] << 8) | buf[3], (buf[4] << 8) | buf[5])
        self._answers[(buf[1] << 16) | (buf[6] << 8) | buf[7]] = (bytes(buf[:8]), answer)
        return answer

    def _answer(self, function, register, count):
        if function not in (3, 4):
            return _framed(bytes((self.address, function | 0x80, 1)))
        data = bytearray()
        for offset in range(count):
            if register + offset not in self.registers:
                return _framed(bytes((self.address, function | 0x80, 2)))
            word = self.registers[register + offset]
            data.append(word >> 8)
            data.append(word & 0xFF)
        return _framed(bytes((self.address, function, len(data))) + bytes(data))


def _same_request(request, buf):
    for index in range(8):
        if request[index] != buf[index]:
            return False
    return True


def dtsu666(line, address=1):
    """A Chint DTSU666 (native register map, CT and VT ratio 1) importing 0 W."""
    slave = RegisterSlave(line, address)
    slave.set_word(0x0006, 1)  # IrAt
    slave.set_word(0x0007, 10)  # UrAt in 0.1
    for phase in range(3):
        slave.set_float(0x2006 + 2 * phase, 2300.0)  # Ua..Uc, 0.1 V
        slave.set_float(0x200C + 2 * phase, 0.0)  # Ia..Ic, 0.001 A (set_power keeps them matching)
    slave.set_float(0x2044, 5000.0)  # Freq, 0.01 Hz
    slave.set_float(0x101E, 100.0)  # ImpEp, kWh
    slave.set_float(0x1028, 50.0)  # ExpEp, kWh
    set_power(slave, 0.0, 0.0, 0.0)
    return slave


def set_power(slave, l1_w, l2_w, l3_w, voltage_v=230.0):
    """Phase powers in W (+ import); the DTSU666 holds them in 0.1 W with the total first.

    The phase currents follow, |P| / U in 0.001 A (unity power factor), as a real meter's do:
    the firmware's plausibility check compares power with voltage times current.
    """
    slave.set_float(0x2012, (l1_w + l2_w + l3_w) * 10)
    for phase, power_w in enumerate((l1_w, l2_w, l3_w)):
        slave.set_float(0x2014 + 2 * phase, power_w * 10)
        slave.set_float(0x200C + 2 * phase, abs(power_w) * 1000 / voltage_v)
