"""The firmware on the unix port drives a SunSpec inverter that shares the meter's RS485 bus (pymodbus peers).

tools/hostboard.py runs app.main() in real time; on the pseudo-terminal's far end one pymodbus server answers
for a DTSU666 at address 1 and a SunSpec inverter (model 123) at address 3. The grid imports, so the controller
raises the inverter's limit from the fail-safe value; the inverter must see our limit writes with the revert
timer armed and report its power back into the firmware's status.

The fail-safe limit queued at boot waits for the link's discovery of the map and is its first write.
"""

import json
import subprocess
import sys
from pathlib import Path

from meter_emulator import EmulatedMeter, MeterBus
from sunspec_emulator import EmulatedInverter

ROOT = Path(__file__).resolve().parent.parent


def test_a_sunspec_inverter_on_the_meter_bus_gets_limits_and_reports_power():
    meter = EmulatedMeter("dtsu666", address=1)
    meter.set(phase_power_w=[1000.0, 0.0, 0.0], current_a=[4.4, 0.0, 0.0])
    inverter = EmulatedInverter(address=3, controls=123, rated_w=5000)
    inverter.available_w = 1200.0
    settings = {"inverters": [{"serial": "roof", "rated_w": 5000, "sunspec_address": 3}], "sunspec_revert_s": 30,
                "export_limit_w": 0}
    command = [sys.executable, str(ROOT / "tools" / "hostboard.py"), "--port", "", "--seconds", "16"]
    for key, value in settings.items():
        command += ["--set", "%s=%s" % (key, json.dumps(value))]
    with MeterBus(meter, inverter) as bus:
        command[command.index("--port") + 1] = bus.port
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert inverter.writes, done.stdout  # limit blocks written over the shared bus
    final = done.stdout.split("loop: STOPPED")[-1]
    assert "inverter 0 roof L1:" in final and "rated 5000.0 W" in final, done.stdout
    row = [line for line in final.splitlines() if line.startswith("inverter 0 roof")][0]
    assert "(acked)" in row and "output -" not in row and "(-1 s ago)" not in row, row
