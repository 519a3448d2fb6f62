"""A fake byte stream (write / readinto / any) that answers requests from a script.

Portable (CPython and the MicroPython unix port) and allocation-free once
built, so a heap_lock test can poll a Modbus master through it thousands of
times. It stands where the UART (behind the RS485 driver) stands on the device.

    stream = ReplayStream()
    stream.answer(bytes.fromhex("010304..."))   # queued response(s)
    stream.chunk = 3                             # deliver at most 3 bytes per readinto

Every `write()` pops the next queued response into the receive buffer (an
empty response: the meter stays silent). With `replay=True` the queue is a
ring: the same answers come back forever, for the 1000-poll tests.
`written` keeps a copy of the last request, `writes` counts them.
`inject(data)` puts bytes on the line now (noise, a late answer).
"""


class ReplayStream:
    def __init__(self, capacity=512, replay=False):
        self._answers = []
        self._next = 0
        self.replay = replay
        self.chunk = capacity
        self._rx = bytearray(capacity)
        self._head = 0
        self._tail = 0
        self.written = bytearray(260)
        self.written_len = 0
        self.writes = 0

    def answer(self, *frames):
        for frame in frames:
            self._answers.append(bytes(frame))
        return self

    def inject(self, data):
        for byte in data:
            self._rx[self._tail] = byte
            self._tail += 1

    def write(self, buf):
        count = len(buf)
        for index in range(count):
            self.written[index] = buf[index]
        self.written_len = count
        self.writes += 1
        self._head = 0
        self._tail = 0
        if self._next < len(self._answers):
            frame = self._answers[self._next]
            self._next += 1
            if self.replay and self._next == len(self._answers):
                self._next = 0
            rx = self._rx
            for index in range(len(frame)):
                rx[index] = frame[index]
            self._tail = len(frame)
        return count

    def any(self):
        return self._tail - self._head

    def readinto(self, buf):
        count = self._tail - self._head
        if count <= 0:
            return None
        if count > len(buf):
            count = len(buf)
        if count > self.chunk:
            count = self.chunk
        rx = self._rx
        head = self._head
        for index in range(count):
            buf[index] = rx[head + index]
        self._head = head + count
        return count

    def request(self):
        return bytes(self.written[: self.written_len])
