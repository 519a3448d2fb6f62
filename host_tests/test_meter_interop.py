"""Our master and drivers against pymodbus as the slave, over a pseudo-terminal; the tool end to end."""

import json
import subprocess
import sys
import time
from pathlib import Path

import meters
import modbus
import modbus_error
import modbus_write
import pytest
import serial
from compat import ticks_ms
from meter_emulator import EmulatedMeter, MeterBus
from meter_read import SerialStream
from reading import Reading

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "meter_read.py"


@pytest.fixture
def open_bus():
    """open_bus(*meters) -> (bus, master); everything is closed after the test."""
    opened = []

    def start(*emulated, timeout_ms=300, retries=1):
        bus = MeterBus(*emulated)
        bus.start()
        port = serial.Serial(bus.port, baudrate=9600, timeout=0)
        opened.append((bus, port))
        master = modbus_write.WriteMaster(SerialStream(port), timeout_ms=timeout_ms, retries=retries, silence_ms=30)
        return bus, master

    yield start
    for bus, port in opened:
        port.close()
        bus.stop()


def run_until(meter, wanted, limit_s=5.0):
    """Step in real time until `wanted` status; returns every non-trivial status seen."""
    seen = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        status = meter.step(ticks_ms())
        if status not in (meters.IDLE, meters.BUSY, meters.WAIT_BUS):
            seen.append(status)
            if status == wanted:
                return seen
        time.sleep(0.001)
    raise AssertionError("no %d within %.1f s: saw %r" % (wanted, limit_s, seen))


def full_read(meter):
    run_until(meter, meters.STARTED)
    meter.slow_every = 1
    while meter.slow_reads < meter.slow_blocks:
        run_until(meter, meters.UPDATED)


def test_dtsu666_with_ct_ratio_negative_power_and_energies(open_bus):
    grid = EmulatedMeter("dtsu666", ct_ratio=20)
    grid.set(phase_power_w=[-1000.0, -200.5, 300.25], voltage_v=[230.1, 231.2, 229.9], current_a=[5.0, 1.0, 2.0])
    grid.set(import_kwh=1234.5, export_kwh=99.0, frequency_hz=49.98)
    _, master = open_bus(grid)
    reading = Reading()
    meter = meters.create("dtsu666", master, 1, reading, period_ms=0)
    full_read(meter)
    assert (meter.ct_ratio, meter.vt_ratio10, meter.variant, meter.energy_register) == (20, 10, "native", 0x101E)
    assert reading.valid and reading.power_dw == -9003  # -900.25 W, half away from zero
    assert list(reading.phase_power_dw) == [-10000, -2005, 3003]  # 3002.5 dW rounds away from zero
    assert list(reading.voltage_dv) == [2301, 2312, 2299]
    assert list(reading.current_ma) == [5000, 1000, 2000]
    assert reading.frequency_chz == 4998
    assert (reading.import_wh, reading.export_wh) == (1234500, 99000)
    grid.set(power_w=4500.0)
    seq = reading.seq
    run_until(meter, meters.SAMPLE)
    assert reading.power_dw == 45000 and reading.seq == seq + 1
    assert meter.timeout == meter.crc == meter.exception == 0


def test_dtsu666_h_variant_and_old_energy_family(open_bus):
    grid = EmulatedMeter("dtsu666", address=11, variant="H", energy_family=0x4000)
    grid.set(power_w=-2345.6, import_kwh=10.0, export_kwh=20.5)
    _, master = open_bus(grid)
    reading = Reading()
    meter = meters.create("dtsu666", master, 11, reading, period_ms=0)
    full_read(meter)
    assert meter.variant == "H" and meter.energy_register == 0x401E
    assert reading.power_dw == -23456
    assert (reading.import_wh, reading.export_wh) == (10000, 20500)
    assert meter.exception == 1  # the 0x101E probe


@pytest.mark.parametrize("model", ["ddsu666", "sdm120", "sdm630"])
def test_other_models_read_back_what_the_meter_holds(open_bus, model):
    emulated = EmulatedMeter(model, address=3)
    emulated.set(power_w=-1500.0, voltage_v=[229.5, 230.5, 231.5], current_a=[6.5, 1.25, 0.5], frequency_hz=50.02)
    emulated.set(import_kwh=100.25, export_kwh=3000.0)
    _, master = open_bus(emulated)
    reading = Reading()
    meter = meters.create(model, master, 3, reading, period_ms=0)
    full_read(meter)
    assert reading.power_dw == -15000 and reading.valid
    assert reading.frequency_chz == 5002
    assert reading.voltage_dv[0] == 2295 and reading.current_ma[0] == 6500
    assert (reading.import_wh, reading.export_wh) == (100250, 3000000)
    if model == "sdm630":
        assert list(reading.phase_power_dw) == [-5000, -5000, -5000]
        assert list(reading.voltage_dv) == [2295, 2305, 2315]


def test_invert_for_a_meter_wired_the_other_way(open_bus):
    emulated = EmulatedMeter("ddsu666")
    emulated.set(power_w=800.0, import_kwh=5.0, export_kwh=7.0)
    _, master = open_bus(emulated)
    reading = Reading()
    meter = meters.create("ddsu666", master, 1, reading, invert=True, period_ms=0)
    full_read(meter)
    assert reading.power_dw == -8000
    assert (reading.import_wh, reading.export_wh) == (7000, 5000)


def test_exception_responses_reach_the_driver_and_the_master(open_bus):
    emulated = EmulatedMeter("sdm120")
    _, master = open_bus(emulated)
    reading = Reading()
    meter = meters.create("sdm120", master, 1, reading, period_ms=0, retry_ms=0)
    run_until(meter, meters.SAMPLE)
    emulated.exception_code = 4
    assert run_until(meter, meters.EXCEPTION)[-1] == meters.EXCEPTION
    assert meter.exception_code == 4 and not reading.valid
    error = master.error()
    assert isinstance(error, modbus_error.ModbusError) and error.code == 4
    emulated.exception_code = None
    run_until(meter, meters.SAMPLE)
    assert reading.valid


def test_a_slow_meter_times_out_and_a_patient_master_waits(open_bus):
    emulated = EmulatedMeter("sdm630")
    emulated.latency_s = 0.15
    bus, master = open_bus(emulated, timeout_ms=80, retries=0)
    meter = meters.create("sdm630", master, 1, Reading(), period_ms=0, retry_ms=0)
    started = time.monotonic()
    assert run_until(meter, meters.TIMEOUT) == [meters.TIMEOUT]
    assert time.monotonic() - started < 1.0
    master.timeout_ms = 400
    time.sleep(0.3)  # let the late answer arrive: the next request must flush it
    run_until(meter, meters.STARTED)
    run_until(meter, meters.SAMPLE)
    assert meter.timeout == 1


def test_corrupted_answers_count_as_crc_errors_and_are_retried(open_bus):
    emulated = EmulatedMeter("sdm120")
    emulated.set(power_w=123.4)
    bus, master = open_bus(emulated, retries=1)
    reading = Reading()
    meter = meters.create("sdm120", master, 1, reading, period_ms=0)
    run_until(meter, meters.SAMPLE)
    bus.corrupt_next = 1
    run_until(meter, meters.SAMPLE)
    assert master.crc == 1 and meter.crc == 0 and reading.power_dw == 1234  # retried within the transaction
    bus.corrupt_next = 2
    assert meters.BAD_FRAME in run_until(meter, meters.SAMPLE)
    assert meter.crc == 1


def test_two_meters_on_one_bus(open_bus):
    grid = EmulatedMeter("dtsu666", address=1)
    pv = EmulatedMeter("sdm120", address=2)
    grid.set(power_w=-300.0)
    pv.set(power_w=-2500.0)
    _, master = open_bus(grid, pv)
    grid_reading, pv_reading = Reading(), Reading()
    drivers = [
        meters.create("dtsu666", master, 1, grid_reading, period_ms=50),
        meters.create("sdm120", master, 2, pv_reading, period_ms=50),
    ]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and min(grid_reading.seq, pv_reading.seq) < 5:
        for driver in drivers:
            assert driver.step(ticks_ms()) >= 0
        time.sleep(0.001)
    assert grid_reading.power_dw == -3000 and pv_reading.power_dw == -25000
    assert min(grid_reading.seq, pv_reading.seq) >= 5


def tool(*args, timeout=30):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=timeout)


def test_tool_json_for_a_dtsu666_with_ct_ratio():
    grid = EmulatedMeter("dtsu666", address=5, ct_ratio=60, vt_ratio=1.0)
    grid.set(phase_power_w=[-3000.0, -2000.0, -1000.0], voltage_v=[230.0, 231.0, 232.0], current_a=[13.0, 9.0, 4.5])
    grid.set(import_kwh=12.5, export_kwh=345.25, frequency_hz=50.0)
    with MeterBus(grid) as bus:
        done = tool("--port", bus.port, "--meter-type", "dtsu666", "--meter-address", "5", "--json")
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)
    assert set(values) == {
        "power_w",
        "phase_power_w",
        "voltage_v",
        "current_a",
        "frequency_hz",
        "import_kwh",
        "export_kwh",
        "ct_ratio",
        "vt_ratio",
    }
    assert values["power_w"] == -6000.0
    assert values["phase_power_w"] == [-3000.0, -2000.0, -1000.0]
    assert values["voltage_v"] == [230.0, 231.0, 232.0]
    assert values["current_a"] == [13.0, 9.0, 4.5]
    assert values["frequency_hz"] == 50.0
    assert values["import_kwh"] == 12.5 and values["export_kwh"] == 345.25
    assert values["ct_ratio"] == 60 and values["vt_ratio"] == 1.0


def test_tool_table_and_single_phase_json():
    meter = EmulatedMeter("sdm120")
    meter.set(power_w=-196.25, voltage_v=[231.0], current_a=[0.9])
    with MeterBus(meter) as bus:
        as_table = tool("--port", bus.port, "--meter-type", "sdm120")
        as_json = tool("--port", bus.port, "--meter-type", "sdm120", "--json", "--fc", "4")
    assert as_table.returncode == 0 and "-196.3 W" in as_table.stdout and "231.0 V" in as_table.stdout
    values = json.loads(as_json.stdout)
    assert "phase_power_w" not in values and "ct_ratio" not in values
    assert values["power_w"] == -196.3 and values["voltage_v"] == [231.0]


def test_tool_watch_prints_one_json_object_per_sample():
    meter = EmulatedMeter("ddsu666")
    meter.set(power_w=1250.0)
    with MeterBus(meter) as bus:
        process = subprocess.Popen(
            [sys.executable, str(TOOL), "--port", bus.port, "--meter-type", "ddsu666", "--json", "--watch"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            lines = [process.stdout.readline() for _ in range(3)]
        finally:
            process.terminate()
            process.wait(10)
    assert [json.loads(line)["power_w"] for line in lines] == [1250.0] * 3


@pytest.mark.parametrize(
    "emulated, arguments, message",
    [
        (EmulatedMeter("dtsu666"), ["--meter-type", "sdm630"], "exception response 2 (illegal data address)"),
        (EmulatedMeter("dtsu666"), ["--meter-type", "dtsu666", "--meter-address", "7"], "no response (timeout)"),
        (EmulatedMeter("sdm630"), ["--meter-type", "sdm120", "--fc", "4"], None),
    ],
)
def test_tool_errors_are_one_line_and_a_nonzero_exit(emulated, arguments, message):
    emulated.exception_code = None
    with MeterBus(emulated) as bus:
        done = tool("--port", bus.port, *arguments)
    if message is None:  # an SDM630 read as an SDM120 answers, plausibly: that is not an error
        assert done.returncode == 0
        return
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_tool_reports_a_dead_line_and_a_missing_port():
    with MeterBus(EmulatedMeter("sdm120")) as bus:
        bus.silent = True
        done = tool("--port", bus.port, "--meter-type", "sdm120")
    assert done.returncode == 1 and "no response (timeout)" in done.stderr and done.stderr.count("\n") == 1
    done = tool("--port", "/dev/does-not-exist", "--meter-type", "sdm120")
    assert done.returncode == 1 and done.stderr.startswith("meter_read: cannot open /dev/does-not-exist")


def run_master(master, limit_s=3.0):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        status = master.poll(ticks_ms())
        if status != modbus.PENDING:
            return status
        time.sleep(0.001)
    raise AssertionError("transaction did not finish")


def wait_free(master):
    while not master.free(ticks_ms()):
        time.sleep(0.001)


def test_writes_fc06_and_fc16_are_accepted_and_read_back(open_bus):
    emulated = EmulatedMeter("dtsu666")
    _, master = open_bus(emulated)
    assert master.start_write_single(1, 0x002E, 5, ticks_ms())  # DTSU666 Addr
    assert run_master(master) == modbus.DONE
    wait_free(master)
    assert master.start_write_multiple(1, 0x0006, [60, 10], ticks_ms())  # IrAt, UrAt
    assert run_master(master) == modbus.DONE
    wait_free(master)
    assert master.start_read(1, modbus.FC_READ_HOLDING, 0x0006, 2, ticks_ms())
    assert run_master(master) == modbus.DONE
    assert (master.register(0), master.register(1)) == (60, 10)
    assert emulated.written == {0x002E: 5, 0x0006: 60, 0x0007: 10}
