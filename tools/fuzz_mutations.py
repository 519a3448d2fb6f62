"""Faults for the fuzzers (tools/fuzz.py): what a line, a radio or a slow device does to a message.

Faults a checksum is meant to catch for certain: at most three flipped bits under a CRC-16 (`flip_bits`).
Structural faults: truncation, extension, noise, another slave or function, exception answers, loss
(`line_fault`). A mutation that rewrites a frame's data *and* its checksum is a different message, not a
fault, and is not used where a value is judged.
"""

from late_slave import framed


def flip_bits(data, rng, start=0, end=None, count=None):
    """1 to 3 bits flipped in data[start:end] (a CRC-16 catches every such error)."""
    out = bytearray(data)
    end = len(out) if end is None else end
    if end <= start:
        return out
    flipped = []
    while len(flipped) < min(count or rng.between(1, 3), 8 * (end - start)):
        bit = rng.between(8 * start, 8 * end - 1)
        if bit not in flipped:  # distinct bits: a bit flipped twice is no fault
            flipped.append(bit)
            out[bit >> 3] ^= 1 << (bit & 7)
    return out


def noise(rng, low, high):
    return bytes(rng.below(256) for _ in range(rng.between(low, high)))


def line_fault(frame, rng):
    """A Modbus answer as a faulty line or a wrong slave may deliver it; None: lost."""
    kind = rng.below(9)
    if kind == 0:
        return bytes(flip_bits(frame, rng))
    if kind == 1:
        return frame[: rng.below(len(frame))]
    if kind == 2:
        return frame + noise(rng, 1, 20)
    if kind == 3:
        return noise(rng, 1, 12) + frame
    if kind == 4:  # another slave's answer, intact
        return framed(bytes(((frame[0] % 247) + 1,)) + frame[1:-2])
    if kind == 5:  # another function, intact
        function = frame[1] & 0x7F
        return framed(frame[:1] + bytes((function % 16 + 1 if function != 15 else 2,)) + frame[2:-2])
    if kind == 6:  # an exception answer
        return framed(bytes((frame[0], (frame[1] & 0x7F) | 0x80, rng.between(1, 11))))
    if kind == 7:
        return None
    return noise(rng, 1, 40)



class History:
    """The power values a device held in the last few seconds (what a fresh sample may be)."""

    def __init__(self, window_ms):
        self.window_ms = window_ms
        self.changes = []

    def held(self, t_ms, value):
        self.changes.append((t_ms, value))
        if len(self.changes) > 64:
            del self.changes[0]

    def fresh(self, now_ms, value):
        for index in range(len(self.changes) - 1, -1, -1):
            t_ms, held = self.changes[index]
            if held == value:
                return True
            if now_ms - t_ms > self.window_ms:
                return False
        return False
