"""A Modbus-RTU slave as a byte stream (write / readinto / any), answering from a register dict.

Portable (CPython and the MicroPython unix port); it allocates per request,
so it serves functional tests, not heap_lock tests (use ReplayStream there).
Unlike register_slave.py (FC03/FC04 behind the firmware's fake UART line) it
is the stream the master itself reads and it takes FC16 writes.

    slave = StreamSlave(3, {40000: 0x5375, ...})
    master = modbus.Master(slave)

FC03 reads answer from `regs` (exception 02 if any register is missing),
FC16 writes store into `regs` where `writable(register)` allows (else
exception 02) and are logged in `writes` as (register, [values]). A request
for another address, or any request while `silent`, gets no answer.
"""

from crc16 import crc16_pure


class StreamSlave:
    def __init__(self, address, regs, writable=None):
        self.address = address
        self.regs = regs
        self.writable = writable or (lambda register: True)
        self.silent = False
        self.writes = []
        self.requests = 0
        self._out = b""

    def _reply(self, body):
        body = bytearray(body)
        crc = crc16_pure(body, 0, len(body))
        body.append(crc & 0xFF)
        body.append(crc >> 8)
        self._out = bytes(body)

    def write(self, buf):
        request = bytes(buf)
        self._out = b""
        self.requests += 1
        if self.silent or len(request) < 8 or request[0] != self.address:
            return len(buf)
        function = request[1]
        register = (request[2] << 8) | request[3]
        count = (request[4] << 8) | request[5]
        if function == 3:
            if any(register + index not in self.regs for index in range(count)):
                self._reply(bytes((self.address, 0x83, 2)))
                return len(buf)
            data = bytearray((self.address, 3, 2 * count))
            for index in range(count):
                value = self.regs[register + index]
                data.append(value >> 8)
                data.append(value & 0xFF)
            self._reply(data)
        elif function == 16:
            if not all(self.writable(register + index) for index in range(count)):
                self._reply(bytes((self.address, 0x90, 2)))
                return len(buf)
            values = [(request[7 + 2 * index] << 8) | request[8 + 2 * index] for index in range(count)]
            for index in range(count):
                self.regs[register + index] = values[index]
            self.writes.append((register, values))
            self._reply(request[:6])
        else:
            self._reply(bytes((self.address, function | 0x80, 1)))
        return len(buf)

    def any(self):
        return len(self._out)

    def readinto(self, buf):
        if not self._out:
            return None
        count = min(len(buf), len(self._out))
        for index in range(count):
            buf[index] = self._out[index]
        self._out = self._out[count:]
        return count
