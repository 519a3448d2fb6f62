"""Bytes waiting to go out on a non-blocking socket, in one small preallocated buffer.

    box = Outbox(256)
    box.put(b"HTTP/1.0 200 OK\\r\\n...")          # False: no room now, nothing queued
    box.stream(pieces)                           # an iterator of bytes pieces, pulled as room frees up
    box.flush(sock)                              # sends what the socket takes now; never blocks

Why: a message that is built whole (the status JSON, the HTML page, an MQTT
packet) needs one free block of its full size, which a fragmented 112 kB
heap may not have, and a blocking `sendall` of it stops the control tick
for as long as the peer does not read. Here a message is a short head put
into the buffer plus an iterator of small pieces (json_stream.pieces, or a
memoryview of a constant page) copied in as the socket takes the bytes
before them. One streamed message at a time: `idle` says when the next may
start; small packets can be `put` between streamed ones (an MQTT ping).

Timing: `flush` does at most `rounds` sends of at most the buffer's size and
returns at EAGAIN, so one call costs microseconds to a millisecond whatever
the peer does. Allocation: the buffer once; per send a memoryview slice; the
pieces are the producer's (small bytes objects). Errors other than "would
block" propagate as OSError: the owner closes the connection.
"""

import errno

from compat import const

_WOULD_BLOCK = (errno.EAGAIN, errno.EINPROGRESS, getattr(errno, "EWOULDBLOCK", errno.EAGAIN))
_ROUNDS = const(4)


def would_block(error):
    """True for the errors of a non-blocking socket that only mean "not now"."""
    return bool(error.args) and error.args[0] in _WOULD_BLOCK


class Outbox:
    def __init__(self, size):
        """`size` in bytes, or a bytearray to use (a buffer the owner lends while it does not need it)."""
        self._buffer = bytearray(size) if isinstance(size, int) else size
        self._view = memoryview(self._buffer)
        self._start = 0
        self._end = 0
        self._source = None  # iterator of bytes pieces still to copy in
        self._piece = None  # memoryview of the piece being copied
        self._piece_pos = 0
        self.sent = 0  # bytes handed to the socket, wraps like ticks

    @property
    def idle(self):
        """Nothing streaming: a new message may start."""
        return self._source is None and self._piece is None

    @property
    def empty(self):
        return self.idle and self._start == self._end

    def room(self):
        return len(self._buffer) - self._end + self._start

    def clear(self):
        self._start = self._end = 0
        self._source = None
        self._piece = None

    def put(self, data):
        """Queue a whole small packet if it fits behind what is queued (and nothing streams); else False."""
        if not self.idle or self.room() < len(data):
            return False
        self._compact()
        end = self._end + len(data)
        self._buffer[self._end : end] = data
        self._end = end
        return True

    def stream(self, head, pieces):
        """Queue `head` (bytes) now and the bytes `pieces` as room frees up; False if busy or no room."""
        if not self.put(head):
            return False
        self._source = iter(pieces)
        self._fill()
        return True

    def flush(self, sock, rounds=_ROUNDS):
        """Send what the socket takes now; True when everything queued is out."""
        for _ in range(rounds):
            self._fill()
            if self._start == self._end:
                return self.idle
            try:
                count = sock.send(self._view[self._start : self._end])
            except OSError as error:
                if would_block(error):
                    return False
                raise
            if not count:
                return False
            self._start += count
            self.sent = (self.sent + count) & 0x3FFFFFFF
        return self.empty

    def _compact(self):
        start = self._start
        if start == 0:
            return
        buffer = self._buffer
        for index in range(self._end - start):  # byte by byte: the ranges may overlap
            buffer[index] = buffer[start + index]
        self._end -= start
        self._start = 0

    def _fill(self):
        """Copy piece bytes into the free room."""
        while self._source is not None or self._piece is not None:
            if self._piece is None:
                try:
                    piece = next(self._source)
                except StopIteration:
                    self._source = None
                    return
                self._piece = memoryview(piece)
                self._piece_pos = 0
            self._compact()
            free = len(self._buffer) - self._end
            if not free:
                return
            left = len(self._piece) - self._piece_pos
            count = left if left < free else free
            self._buffer[self._end : self._end + count] = self._piece[self._piece_pos : self._piece_pos + count]
            self._end += count
            self._piece_pos += count
            if self._piece_pos == len(self._piece):
                self._piece = None
