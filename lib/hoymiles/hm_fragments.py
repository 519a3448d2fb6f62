"""Collects the fragments of one multi-frame answer and puts them back together.

An answer to a MultiData request arrives as frames numbered 1, 2, ... with bit
7 set on the last one, in any order, possibly on different channels, some of
them lost. Each fragment's data (bytes 10..len-2) is kept in its own slot;
`missing()` names the fragment to ask for again with RequestFrame, and
`assemble()` copies the slots in order into one payload and checks the CRC16
in its last two bytes before it returns a length: no field of an answer is
used before that (the parsers in hm_answers check it once more, so no
caller can skip it). Only the fragment index (byte 9, under the frame's
CRC8) is read before, to put the fragment in its slot.

Timing and allocation: buffers are allocated once in `__init__`; `add`,
`missing` and `assemble` are byte loops over them (at most 12 x 21 bytes; the
copy loops are native code) and allocate nothing.
"""

from compat import const, micropython
from hm_crc import crc16
from hm_frames import ERR_CRC16, ERR_MISSING, ERR_SHORT, HEADER_LEN, INDEX_LAST, MAX_FRAME_LEN

_MAX_FRAGMENTS = const(12)
_SLOT_LEN = const(21)  # MAX_FRAME_LEN - HEADER_LEN - 1 (the CRC8)
PAYLOAD_MAX = const(252)  # _MAX_FRAGMENTS * _SLOT_LEN

ADDED = const(1)
DUPLICATE = const(2)
BAD_INDEX = const(3)


class Fragments:
    def __init__(self):
        self._data = bytearray(_MAX_FRAGMENTS * _SLOT_LEN)
        self._len = bytearray(_MAX_FRAGMENTS + 1)  # by index; 0 = not received
        self.last = 0  # index of the fragment marked last, 0 while unseen
        self.highest = 0  # highest index received
        self.count = 0  # fragments received

    def reset(self):
        lengths = self._len
        for i in range(_MAX_FRAGMENTS + 1):
            lengths[i] = 0
        self.last = 0
        self.highest = 0
        self.count = 0

    def add(self, frame, length):
        """Keep the data of a checked answer frame; ADDED, DUPLICATE or BAD_INDEX."""
        if length > MAX_FRAME_LEN or length < HEADER_LEN + 2:
            return BAD_INDEX
        index = frame[9] & 0x7F
        if index == 0 or index > _MAX_FRAGMENTS:
            return BAD_INDEX
        if frame[9] & INDEX_LAST:
            if self.last and self.last != index:
                return BAD_INDEX
            self.last = index
        if self._len[index]:
            return DUPLICATE
        self._store(frame, index, length - HEADER_LEN - 1)
        return ADDED

    # The two byte loops are native: as bytecode their frames are too large to stay
    # off the heap (see hm_crc), and they are the inner loops of every answer.
    @micropython.native
    def _store(self, frame, index, n):
        data = self._data
        base = (index - 1) * _SLOT_LEN
        for i in range(n):
            data[base + i] = frame[HEADER_LEN + i]
        self._len[index] = n
        self.count += 1
        if index > self.highest:
            self.highest = index

    def missing(self):
        """The first fragment index still missing (the last one counts once seen), or 0 if complete."""
        end = self.last if self.last else self.highest + 1
        if end > _MAX_FRAGMENTS:
            end = _MAX_FRAGMENTS
        lengths = self._len
        for index in range(1, end + 1):
            if not lengths[index]:
                return index
        return 0 if self.last else end

    def assemble(self, out):
        """Copy the payload into `out` (PAYLOAD_MAX bytes); its length without the CRC16, or an error."""
        if not self.last or self.missing():
            return ERR_MISSING
        total = 0
        for index in range(1, self.last + 1):
            total = self._copy(index, out, total)
        if total < 2:
            return ERR_SHORT
        total -= 2
        if crc16(out, 0, total) != (out[total] << 8) | out[total + 1]:
            return ERR_CRC16
        return total

    @micropython.native
    def _copy(self, index, out, total):
        data = self._data
        base = (index - 1) * _SLOT_LEN
        for i in range(self._len[index]):
            out[total + i] = data[base + i]
        return total + self._len[index]
