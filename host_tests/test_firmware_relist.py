"""A new inverter list with SunSpec inverters, applied without a reset, on the unix port in real time (pymodbus peers).

tools/hostboard.py runs app.main() with no inverter (so the meter bus gets a master that only reads), then
`cfg.set("inverters", ...)` twice as at the REPL (`--at`): one SunSpec inverter at address 3 (the bus needs a
writing master now), then that inverter's row moved to address 4. One pymodbus server on the pseudo-terminal
answers for the DTSU666 (address 1, the grid imports) and inverters at 3, 4 and 5. Each inverter of a list must
be written limits with the revert timer armed (the heartbeat every second), raised by regulation from the
fail-safe 0 %; the one left out must see no write after the change, the one never listed no request at all; the
bus master must have lost no transaction and taken no answer for another's (no timeout, no CRC error), and the
meter must have gone on reading; the inverter's AC power must reach the firmware's status. Each map is read
first (about 5 s: the same-length rule, docs/SUNSPEC.md). (This is also the end-to-end test of the SunSpec link
on the meter bus: limits out with the revert timer armed, acknowledged, power back.)
"""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from meter_emulator import EmulatedMeter, MeterBus
from sunspec_emulator import EmulatedInverter

ROOT = Path(__file__).resolve().parent.parent
FIRST = [{"serial": "roof", "rated_w": 5000, "sunspec_address": 3}]
SECOND = [{"serial": "roof", "rated_w": 5000, "sunspec_address": 4}]
MARGIN_S = 0.5  # a write on the wire as the swap ran reaches the emulator this much later at most
REVERT_S = 3  # a heartbeat write every second


def _writes(inverter, since=0.0):
    """(WMaxLimPct in %, WMaxLimPct_RvrtTms, WMaxLim_Ena) of each 123 block written after `since` (monotonic s)."""
    first = inverter.controls_reg + 5  # WMaxLimPct
    return [(values[0] / 10, values[2], values[4]) for at, register, values in inverter.writes
            if at >= since and register == first]


def test_a_new_sunspec_list_applies_without_a_reset_and_loses_no_transaction():
    meter = EmulatedMeter("dtsu666", address=1)
    meter.set(phase_power_w=[1500.0, 0.0, 0.0], current_a=[6.5, 0.0, 0.0])
    inverters = {address: EmulatedInverter(address=address, controls=123, rated_w=5000) for address in (3, 4, 5)}
    for inverter in inverters.values():
        inverter.available_w = 900.0
    command = [sys.executable, str(ROOT / "tools" / "hostboard.py"), "--port", "", "--seconds", "15",
               "--set", "export_limit_w=0", "--set", "sunspec_revert_s=%d" % REVERT_S,
               "--set", "control_period_ms=100",
               "--at", "0.5:inverters=" + json.dumps(FIRST), "--at", "7.5:inverters=" + json.dumps(SECOND)]
    seen = []  # (monotonic s, line)
    with MeterBus(meter, *inverters.values()) as bus:
        command[command.index("--port") + 1] = bus.port
        firmware = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        reader = threading.Thread(target=lambda: seen.extend((time.monotonic(), line) for line in firmware.stdout))
        reader.start()
        try:
            firmware.wait(60)
        finally:
            if firmware.poll() is None:
                firmware.kill()
            reader.join(10)
    out = "".join(line for _, line in seen)
    assert firmware.returncode == 0, out
    changed = [at for at, line in seen if line.startswith("cfg: inverters")]
    assert len(changed) == 2, out
    assert ("inverters 1 -> 1 (~roof); live at the next control tick; every inverter starts at its fail-safe "
            "limit (SunSpec: written once its map is read, a few seconds)") in out, out
    assert "not in force" not in out, out

    roof = _writes(inverters[3])
    assert len(roof) >= 2 and all(write[1:] == (REVERT_S, 1) for write in roof), out  # the revert timer armed
    assert max(write[0] for write in roof) > 0, roof  # regulation raised it (the fail-safe limit is 0 %)
    assert not _writes(inverters[3], changed[1] + MARGIN_S), out  # left out: never written again
    moved = _writes(inverters[4])
    assert moved and all(write[1:] == (REVERT_S, 1) for write in moved), (moved, out)
    assert all(at > changed[1] for at, _, _ in inverters[4].writes)
    assert not inverters[5].writes and inverters[5].reads == 0  # not listed: never asked

    totals = [line for line in out.splitlines() if line.startswith("modbus ")][-1]
    assert totals.startswith("modbus WriteMaster:") and "timeout 0, crc 0" in totals, out
    final = out.split("loop: STOPPED")[-1]
    assert "timeout 0, crc 0, exception 0, invalid 0" in final or "timeout 0, crc 0, exception 1, invalid 0" in final
    samples = [int(line.split("samples ")[1]) for line in out.splitlines() if line.startswith("meter dtsu666")]
    assert samples[-1] >= 12, out  # about one a second, across both swaps
    rows = [line for line in final.splitlines() if line.startswith("inverter ")]
    assert len(rows) == 1 and "(acked)" in rows[0], final  # the new address's limit was acknowledged
    assert "output 900.0 W" in rows[0] and "rated 5000.0 W" in rows[0], final  # and its power read back
