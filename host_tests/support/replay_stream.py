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

    def clear(self):
        """Forget the queued answers (e.g. the start-up ones before a replay ring)."""
        self._answers = []
        self._next = 0
        return self

    def inject(self, data):
        for byte in data:
            self._rx[self._tail] = byte
            self._tail += 1

    # write/any/readinto run inside allocation tests: while loops and small
    # frames (a bytecode frame over 11 words would come from the heap).

    def write(self, buf):
        count = len(buf)
        self._copy(buf, self.written, count)
        self.written_len = count
        self.writes += 1
        self._head = 0
        self._tail = 0
        if self._next < len(self._answers):
            frame = self._answers[self._next]
            self._next += 1
            if self.replay and self._next == len(self._answers):
                self._next = 0
            self._copy(frame, self._rx, len(frame))
            self._tail = len(frame)
        return count

    @staticmethod
    def _copy(source, target, count):
        index = 0
        while index < count:
            target[index] = source[index]
            index += 1

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
        head = self._head
        index = 0
        while index < count:
            buf[index] = self._rx[head + index]
            index += 1
        self._head = head + count
        return count

    def request(self):
        return bytes(self.written[: self.written_len])
