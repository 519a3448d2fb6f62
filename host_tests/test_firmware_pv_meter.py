"""A second meter at the PV output, on the grid meter's bus: PV power and energy come from it (pymodbus peers).

tools/hostboard.py runs app.main() in real time with `pv_meter_type` set; one pymodbus server answers for the
grid DTSU666 (address 1) and an SDM120 at the PV output (address 2) that sees 800 W of production.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

from meter_emulator import EmulatedMeter, MeterBus

ROOT = Path(__file__).resolve().parent.parent


def test_pv_power_and_energy_come_from_the_pv_meter():
    grid = EmulatedMeter("dtsu666", address=1)
    grid.set(phase_power_w=[200.0, 0.0, 0.0], current_a=[0.9, 0.0, 0.0])
    pv = EmulatedMeter("sdm120", address=2)
    pv.set(power_w=-800.0, voltage_v=[230.0], current_a=[3.5])
    with MeterBus(grid, pv) as bus:
        command = [sys.executable, str(ROOT / "tools" / "hostboard.py"), "--port", bus.port, "--seconds", "12",
                   "--set", "pv_meter_type=%s" % json.dumps("sdm120"), "--set", "pv_meter_address=2"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    final = done.stdout.split("loop: STOPPED")[-1]
    assert "pv meter sdm120 @2: valid, power -800.0 W" in final, done.stdout
    assert "meter dtsu666 @1: valid, power 200.0 W" in final, done.stdout
    assert pv.reads >= 5
    energy = re.search(r"energy: import (\d+) Wh, export (\d+) Wh, PV (\d+) Wh", final)
    assert energy, final
    # 800 W for most of 12 s is about 2.5 Wh; 200 W of import about 0.6 Wh.
    assert 1 <= int(energy.group(3)) <= 3 and int(energy.group(2)) == 0, final
