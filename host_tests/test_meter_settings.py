"""Commissioning a meter wired the wrong way: tools/meter_read.py's flags are the gateway's settings."""

import json
import re
import subprocess
import sys
from pathlib import Path

import cfg_schema
from meter_emulator import EmulatedMeter, MeterBus

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "meter_read.py"
TOOL_ONLY = {"port", "fc", "json", "watch", "help"}  # flags that are not settings of the gateway


def tool(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=60)


def test_every_meter_flag_is_a_setting_of_the_same_name():
    usage = tool("--help").stdout
    flags = {flag.replace("-", "_") for flag in re.findall(r"--([a-z][a-z-]*)", usage)} - TOOL_ONLY
    assert {"meter_type", "meter_stop_bits", "invert", "ct_ratio", "vt_ratio"} <= flags
    assert flags <= set(cfg_schema.SCHEMA), flags - set(cfg_schema.SCHEMA)


def test_ct_ratio_and_invert_fix_a_meter_that_shows_secondary_power_with_the_wrong_sign():
    # An SDM630 on 100 A / 5 A CTs set to ratio 1, its CTs the wrong way round: 3 kW export reads +150 W.
    meter = EmulatedMeter("sdm630")
    meter.set(phase_power_w=[50.0, 50.0, 50.0], current_a=[0.22, 0.22, 0.22])
    with MeterBus(meter) as bus:
        raw = tool("--port", bus.port, "--meter-type", "sdm630", "--json")
        fixed = tool("--port", bus.port, "--meter-type", "sdm630", "--ct-ratio", "20", "--invert", "--json")
    assert raw.returncode == 0 and fixed.returncode == 0, raw.stderr + fixed.stderr
    assert json.loads(raw.stdout)["power_w"] == 150.0
    values = json.loads(fixed.stdout)
    assert values["power_w"] == -3000.0 and values["phase_power_w"] == [-1000.0] * 3
    assert values["current_a"] == [4.4] * 3


def test_the_settings_accept_what_the_tool_accepts():
    assert cfg_schema.checked("ct_ratio", 20) == 20 and cfg_schema.checked("invert", True) is True
    assert cfg_schema.defaults()["ct_ratio"] == 0 and cfg_schema.defaults()["vt_ratio"] == 0
