"""Split-phase grids: the `grid` setting reaches the controller, the supervisor and the plausibility check."""

import cfg
import controller
import plausibility
import register_slave
from test_app_loop import Bench
from test_cfg_repl import _fresh
from testkit import raises

SPLIT_ROWS = [
    {"serial": "114182000001", "rated_w": 800, "phase": 1, "inputs": 2},
    {"serial": "114182000002", "rated_w": 600, "phase": 2, "inputs": 2},
]
# DTSU666 phase voltages, 0.1 V: a 120/240 V service wired to L1 and L2, nothing on L3.
VOLTAGE_REGISTERS = (0x2006, 0x2008, 0x200A)


def _split_meter(bench, l1_w, l2_w, volts=(120, 120, 0)):
    for phase in range(3):
        bench.meter.set_float(VOLTAGE_REGISTERS[phase], volts[phase] * 10)
    register_slave.set_power(bench.meter, l1_w, l2_w, 0, voltage_v=120.0)


def test_cfg_refuses_an_inverter_on_a_phase_the_grid_lacks():
    _fresh()
    cfg.set("inverters", SPLIT_ROWS + [{"serial": "114182000003", "rated_w": 300, "phase": 3}])
    error = raises(ValueError, cfg.set, "grid", "split")
    assert "inverters[2]: phase 3" in str(error) and "L1 and L2" in str(error)
    assert cfg.get("grid") == "3p"
    cfg.set("inverters", SPLIT_ROWS)
    cfg.set("grid", "split")
    raises(ValueError, cfg.set, "inverters", [{"serial": "114182000003", "rated_w": 300, "phase": 3}])
    assert cfg.get("inverters") == SPLIT_ROWS


def test_a_hand_edited_mismatch_loads_as_3p_with_a_warning():
    saved = b'{"grid": "1p", "inverters": [{"serial": "114182000002", "rated_w": 600, "phase": 2}]}'
    _, warnings = _fresh(saved)
    assert cfg.get("grid") == "3p"
    assert any("grid 3p used instead" in warning for warning in warnings)


def test_a_split_phase_house_regulates_with_l3_dead_and_120_v_legs():
    bench = Bench(export_limit_w=0, load_w=0, grid="split", nominal_voltage_v=120, inverters=SPLIT_ROWS)
    try:
        assert bench.app.controller.phases == 2
        assert bench.app.guard.plausibility.voltage_min_dv == 920
        for _ in range(120):
            _split_meter(bench, 300, 250)
            bench.period()
        assert not bench.app.guard.implausible
        assert bench.app.controller.mode == controller.MODE_REGULATING
    finally:
        bench.close()


def test_the_same_meter_on_a_3p_setting_is_implausible():
    """L3 at 0 V is what a healthy split-phase service shows, and what a three-phase grid must never show."""
    bench = Bench(export_limit_w=0, load_w=0, inverters=SPLIT_ROWS)
    try:
        for _ in range(120):
            _split_meter(bench, 300, 250, volts=(230, 230, 0))
            bench.period()
        assert bench.app.guard.implausible
        check = bench.app.guard.plausibility
        assert check.reason == plausibility.VOLTAGE and check.phase == 2
        assert bench.app.controller.mode != controller.MODE_REGULATING
    finally:
        bench.close()
