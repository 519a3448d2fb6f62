"""Fuzz targets on the Hoymiles radio path: fragment reassembly and the answer parsers (see tools/fuzz.py)."""

import hm_answers
import hm_crc
import hm_fragments
import hm_frames
from fuzz_mutations import flip_bits, noise

_INVERTER = b"\x71\x60\x35\x46"
_DTU = b"\x80\x12\x23\x04"


def _radio_frame(mid, index, data):
    frame = bytearray((mid,)) + _INVERTER + _DTU + bytes((index,)) + bytes(data)
    frame.append(hm_crc.crc8(frame, 0, len(frame)))
    return frame


def _with_crc16(data):
    crc = hm_crc.crc16(data, 0, len(data))
    return bytes(data) + bytes((crc >> 8, crc & 0xFF))


class HmFragmentsTarget:
    def __init__(self, rng, result):
        self.rng = rng
        self.result = result
        self.fragments = hm_fragments.Fragments()
        self.payload = bytearray(hm_fragments.PAYLOAD_MAX)
        self.data = hm_answers.RealTime()

    def reset(self):
        self.fragments.reset()

    def one(self):
        rng = self.rng
        truth = _with_crc16(noise(rng, 0, 120))
        pieces = [truth[start : start + 16] for start in range(0, len(truth), 16)]
        frames = []
        for index, piece in enumerate(pieces):
            last = 0x80 if index == len(pieces) - 1 else 0
            frames.append(_radio_frame(0x95, (index + 1) | last, piece))
        mutated = self._mutate(frames)
        self.fragments.reset()
        for frame in mutated:
            if hm_frames.check(frame, len(frame)) == hm_frames.OK:
                self.fragments.add(frame, len(frame))
        if self.fragments.missing():
            return
        length = self.fragments.assemble(self.payload)
        if length >= 0:
            self.result.checked += 1
            if bytes(self.payload[:length]) != truth[:-2]:
                self.result.wrong += 1
                self.result.note("wrong", "a reassembled payload that was not sent (%d bytes)" % length)
            hm_answers.parse_real_time(self.payload, length, rng.between(0, 8), self.data)

    def _mutate(self, frames):
        rng = self.rng
        kind = rng.below(8)
        frames = [bytearray(frame) for frame in frames]
        if kind == 0:  # bit errors the CRC8 would not see (recomputed): the CRC16 must
            for _ in range(rng.between(1, 3)):
                frame = frames[rng.below(len(frames))]
                if len(frame) > 13:
                    frame[rng.between(10, len(frame) - 2)] ^= 1 << rng.below(8)
                    frame[-1] = hm_crc.crc8(frame, 0, len(frame) - 1)
        elif kind == 1:  # the same bit in two data bytes: the CRC8 passes
            frame = frames[rng.below(len(frames))]
            if len(frame) > 13:
                bit = 1 << rng.below(8)
                first = rng.between(10, len(frame) - 3)
                frame[first] ^= bit
                frame[rng.between(first + 1, len(frame) - 2)] ^= bit
        elif kind == 2:
            frames.append(bytearray(frames[rng.below(len(frames))]))
        elif kind == 3:
            frames.reverse()
        elif kind == 4:
            frames.pop(rng.below(len(frames)))
        elif kind == 5:
            index = rng.below(len(frames))
            frames[index] = frames[index][: rng.below(len(frames[index]))]
        elif kind == 6:
            frames.insert(rng.below(len(frames) + 1), bytearray(noise(rng, 1, 40)))
        return frames


class HmAnswersTarget:
    def __init__(self, rng, result):
        self.rng = rng
        self.result = result
        self.data = hm_answers.RealTime()

    def reset(self):
        pass

    def one(self):
        if self.rng.chance(0.5):
            self._ack()
        else:
            self._payload()

    def _ack(self):
        rng = self.rng
        status = b"\x00\x00" if rng.chance(0.5) else bytes((rng.below(256), rng.between(1, 255)))
        truth = hm_frames.OK if status == b"\x00\x00" else hm_frames.ERR_REJECTED
        frame = _radio_frame(0xD1, 0x81, _with_crc16(status + b"\x0b\x00"))
        kind = rng.below(4)
        if kind == 1:
            frame = flip_bits(frame, rng, 10, 16)
            frame[-1] = hm_crc.crc8(frame, 0, len(frame) - 1)
        elif kind == 2:
            bit = 1 << rng.below(8)
            first = rng.between(10, 14)
            frame[first] ^= bit
            frame[rng.between(first + 1, 15)] ^= bit
        elif kind == 3:
            frame = frame[: rng.below(len(frame))] if rng.chance(0.5) else frame + noise(rng, 1, 10)
        if hm_frames.check(frame, len(frame)) != hm_frames.OK:
            return
        result = hm_answers.dev_control_result(frame, len(frame))
        self.result.checked += result == hm_frames.OK
        if kind == 0 and result != truth or kind and result == hm_frames.OK and truth != hm_frames.OK:
            self.result.wrong += 1
            self.result.note("wrong", "D1 %s read as %d" % (bytes(frame[10:16]), result))

    def _payload(self):
        rng = self.rng
        truth = _with_crc16(noise(rng, 0, 80))
        buf = bytearray(truth) + bytearray(4)
        length = len(truth) - 2
        mutated = rng.chance(0.5)
        if mutated:
            buf[: len(truth)] = flip_bits(truth, rng)
        family = rng.between(0, 8)
        results = (
            hm_answers.parse_real_time(buf, length, family, self.data),
            hm_answers.rated_w_of_dev_info(buf, length),
            hm_answers.limit_pct10_of_system_config(buf, length),
        )
        hm_answers.parse_real_time(buf, rng.between(-3, len(buf) + 3), family, self.data)
        self.result.checked += results[0] == hm_frames.OK
        if mutated and (results[0] != hm_frames.ERR_CRC16 or results[1] or results[2] >= 0):
            self.result.wrong += 1
            self.result.note("wrong", "a corrupted payload parsed: %r" % (results,))
