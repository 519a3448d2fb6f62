"""tools/hostboard.py: the firmware in real time on the unix port, its meter bus a serial device (here a pty)."""

import subprocess
import sys
from pathlib import Path

from meter_emulator import EmulatedMeter, MeterBus

ROOT = Path(__file__).resolve().parent.parent


def test_the_firmware_reads_a_dtsu666_on_a_serial_port_in_real_time():
    # Real time: ten seconds leave room for a retried start-up on a busy machine.
    meter = EmulatedMeter("dtsu666", address=3)
    # Currents to match (|P| / 230 V): the firmware refuses power above voltage times current.
    meter.set(phase_power_w=[700.0, -200.0, 1000.0], current_a=[3.1, 0.9, 4.4])
    with MeterBus(meter) as bus:
        done = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "hostboard.py"), "--port", bus.port, "--meter-address", "3",
             "--seconds", "10"],
            capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    final = done.stdout.split("loop: STOPPED")[-1]
    assert "meter dtsu666 @3: valid, power 1500.0 W (L1 700.0, L2 -200.0, L3 1000.0)" in final, done.stdout
    assert "crc 0" in final and meter.reads >= 5
