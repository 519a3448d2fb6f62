"""The SunSpec link against pymodbus holding real SunSpec maps, over a pseudo-terminal, in real time.

The inverter (host_tests/sunspec_emulator.py) keeps its own revert timer, so these tests
show the fail-safe heartbeat end to end: while the link runs the limit never reverts; when
the link stops, the inverter reverts by itself.
"""

import time

import fleet
import meters
import modbus_write
import pytest
import serial
import sunspec
import sunspec_link
from compat import ticks_ms
from meter_emulator import EmulatedMeter, MeterBus
from meter_read import SerialStream
from reading import Reading
from sunspec_emulator import EmulatedInverter


@pytest.fixture
def open_bus():
    """open_bus(*devices) -> master on a pymodbus RTU server answering for the devices."""
    opened = []

    def start(*devices):
        bus = MeterBus(*devices)
        bus.start()
        port = serial.Serial(bus.port, baudrate=9600, timeout=0)
        opened.append((bus, port))
        return modbus_write.WriteMaster(SerialStream(port), timeout_ms=300, retries=1, silence_ms=20)

    yield start
    for bus, port in opened:
        port.close()
        bus.stop()


def make_link(master, units, **options):
    table = fleet.Fleet(len(units))
    for row in range(len(units)):
        table.add(row, 5000)
    return table, sunspec_link.SunSpecLink(master, table, units, **options)


def run(link, seconds, until=None, others=()):
    """Step the link (and `others`) in real time; stop early once `until()` is true."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = ticks_ms()
        link.step(now)
        for other in others:
            other.step(now)
        if until is not None and until():
            return True
        time.sleep(0.001)
    return until is None


def ready(link):
    return lambda: all(info.ready for info in link.maps)


@pytest.mark.parametrize("base", sunspec.BASES)
def test_discovery_rating_and_power_at_each_base(open_bus, base):
    inverter = EmulatedInverter(address=3, base=base, rated_w=5000, w_sf=-1)
    inverter.available_w = 3210.5
    table, link = make_link(open_bus(inverter), ((0, 3),))
    assert run(link, 10, ready(link))
    info = link.maps[0]
    assert (info.base, info.inverter_model, info.limit_model) == (base, 103, sunspec.CONTROLS)
    assert info.wmax_dw == 50000 and info.limit_sf == -1
    assert run(link, 5, lambda: table.output_seq[0] > 0)
    assert table.output_dw[0] == 32105


@pytest.mark.parametrize("length", (65, 69))
def test_704_map_limit_and_revert_to_the_failsafe_value(open_bus, length):
    inverter = EmulatedInverter(address=5, base=50000, controls=704, der_length=length, pct_sf=-2, w_sf=0)
    table, link = make_link(open_bus(inverter), ((0, 5),), revert_s=2, failsafe_pct10=100)
    assert run(link, 10, ready(link))
    assert link.maps[0].limit_model == sunspec.DER_AC_CONTROLS
    table.command(0, 12500, ticks_ms())  # 1250 W of 5000 W
    assert run(link, 5, lambda: table.cmd_state[0] == fleet.CMD_ACKED)
    assert inverter.limit_pct() == pytest.approx(25.0)
    assert run(link, 5, lambda: table.output_dw[0] == 12500)
    run(link, 3)  # the heartbeat keeps the limit in force
    assert inverter.reverts == 0 and link.heartbeats[0] >= 3
    time.sleep(2.5)  # the gateway stops: the inverter falls back to WMaxLimPctRvrt on its own
    assert inverter.limit_pct() == pytest.approx(10.0) and inverter.reverts == 1


def test_123_limit_heartbeat_and_revert_when_the_gateway_stops(open_bus):
    inverter = EmulatedInverter(address=3, rated_w=5000, wmax_w=4000, w_sf=1)  # WMax below the rating
    table, link = make_link(open_bus(inverter), ((0, 3),), revert_s=2)
    assert run(link, 10, ready(link))
    table.command(0, 10000, ticks_ms())  # 1000 W = 25 % of WMax
    assert run(link, 5, lambda: table.cmd_state[0] == fleet.CMD_ACKED)
    assert inverter.limit_pct() == pytest.approx(25.0)
    assert inverter.writes[-1][2] == [250, 0, 2, 0, 1]
    assert run(link, 5, lambda: table.output_dw[0] == 10000)
    run(link, 3)
    assert inverter.reverts == 0 and link.heartbeats[0] >= 3
    gaps = [later[0] - earlier[0] for earlier, later in zip(inverter.writes, inverter.writes[1:], strict=False)]
    assert max(gaps) < 1.5  # refreshed well inside the 2 s revert timer
    time.sleep(2.5)
    assert inverter.limit_pct() is None and inverter.reverts == 1  # a 123 drops the limit
    beats = link.heartbeats[0]
    assert run(link, 2, lambda: link.heartbeats[0] > beats)  # back alive: the overdue heartbeat goes first
    assert inverter.limit_pct() == pytest.approx(25.0)


def test_nameplate_rating_and_float_model(open_bus):
    inverter = EmulatedInverter(address=7, base=0, inverter_model=113, settings=False, rated_w=800)
    inverter.available_w = 612.25
    table, link = make_link(open_bus(inverter), ((0, 7),))
    assert run(link, 10, ready(link))
    assert link.maps[0].wmax_dw == 8000 and link.maps[0].float_values
    assert run(link, 5, lambda: table.output_seq[0] > 0)
    assert table.output_dw[0] == 6123  # 612.25 W, rounded half away from zero
    table.command(0, 4000, ticks_ms())
    assert run(link, 5, lambda: table.cmd_state[0] == fleet.CMD_ACKED)
    assert inverter.limit_pct() == pytest.approx(50.0)


def test_two_inverters_and_the_grid_meter_share_one_bus(open_bus):
    first = EmulatedInverter(address=3, base=40000)
    second = EmulatedInverter(address=4, base=50000, controls=704, rated_w=3000)
    grid = EmulatedMeter("sdm630", address=1)
    grid.set(power_w=-800.0)
    master = open_bus(first, second, grid)
    table, link = make_link(master, ((0, 3), (1, 4)), output_period_ms=300)
    reading = Reading()
    meter = meters.create("sdm630", master, 1, reading, period_ms=500)
    assert run(link, 15, ready(link), others=(meter,))
    table.command(0, 25000, ticks_ms())
    table.command(1, 15000, ticks_ms())
    acked = lambda: table.cmd_state[0] == fleet.CMD_ACKED and table.cmd_state[1] == fleet.CMD_ACKED  # noqa: E731
    assert run(link, 5, acked, others=(meter,))
    assert first.limit_pct() == pytest.approx(50.0) and second.limit_pct() == pytest.approx(50.0)
    seq = reading.seq
    run(link, 3, others=(meter,))
    assert reading.seq >= seq + 3 and abs(reading.power_dw + 8000) <= 2  # the meter kept its pace
    assert table.output_dw[0] == 25000 and table.output_dw[1] == 15000


def test_no_inverter_at_the_address(open_bus):
    inverter = EmulatedInverter(address=3)
    table, link = make_link(open_bus(inverter), ((0, 9),), retry_ms=60000)
    master = link.master
    master.timeout_ms = 100
    assert run(link, 10, lambda: link.maps[0].phase == sunspec.BROKEN)
    assert link.maps[0].error == sunspec.NO_MAP
    table.command(0, 1000, ticks_ms())
    link.step(ticks_ms())
    assert table.cmd_state[0] == fleet.CMD_FAILED
