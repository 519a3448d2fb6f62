"""Cost of the Hoymiles frame layer: building requests, and checking, reassembling and parsing an answer."""

import allocs
import hm_answers
import hm_commands
import hm_fragments
import hm_frames
import hm_models
from compat import ticks_diff, ticks_us

ROUNDS = 2000
INVERTER = b"\x72\x81\x88\x32"
DTU = b"\x80\x12\x23\x04"
ANSWER = [
    bytes.fromhex(text.replace(" ", ""))
    for text in (
        "95 82 97 74 01 82 97 74 01 01 00 01 01 4F 00 2F 00 9D 01 50 00 2F 00 9F 00 02 8A",
        "95 82 97 74 01 82 97 74 01 02 3B F4 00 02 35 06 09 B5 09 B0 09 01 13 86 01 2E DE",
        "95 82 97 74 01 82 97 74 01 83 00 00 00 0D 03 E8 01 6C 00 0E DD 00 4E",
    )
]
tx = bytearray(32)
fragments = hm_fragments.Fragments()
payload = bytearray(hm_fragments.PAYLOAD_MAX)
data = hm_answers.RealTime()


def build_limit():
    hm_commands.build_limit(tx, INVERTER, DTU, 4000, 0)


def build_poll():
    hm_commands.build_multi(tx, INVERTER, DTU, hm_commands.DT_REAL_TIME, 755000000)


def receive():
    fragments.reset()
    for i in range(3):
        frame = ANSWER[i]
        hm_frames.check(frame, len(frame))
        fragments.add(frame, len(frame))
    length = fragments.assemble(payload)
    hm_answers.parse_real_time(payload, length, hm_models.FAMILY_HM_2T, data)


def report(name, function):
    start = ticks_us()
    for _ in range(ROUNDS):
        function()
    elapsed_us = ticks_diff(ticks_us(), start)
    allocated = allocs.measure(function, 500).bytes_allocated
    print(
        "%-40s %6d ns per call (unix port), %d bytes allocated per 500 calls"
        % (name, elapsed_us * 1000 // ROUNDS, allocated)
    )


report("ActivePowerControl frame (19 bytes)", build_limit)
report("RealTimeRunData request (27 bytes)", build_poll)
report("answer: 3 x CRC8, reassembly+CRC16, parse", receive)
