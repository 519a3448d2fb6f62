"""Meter drivers over a replaying stream: start-up, scales, CT/VT ratios, sign, failures, sharing a bus."""

import allocs
import meter_dtsu666
import meter_sdm630
import meters
import modbus
from modbus_frames import exception_response, floats, read_response, words
from reading import Reading
from replay_stream import ReplayStream
from testkit import micropython_only, raises


def R(*values, fc=3, address=1):
    return read_response(address, fc, floats(*values))


def drive(meter, start_ms, until_ms, step_ms=5):
    """Step until `until_ms`; returns the list of interesting statuses with their times."""
    seen = []
    now = start_ms
    while now <= until_ms:
        status = meter.step(now)
        if status not in (meters.IDLE, meters.BUSY, meters.WAIT_BUS):
            seen.append(status)
        now += step_ms
    return seen


def poller(meter, start_ms):
    """A callable doing one whole power poll (plus any slow block due before it)."""
    clock = [start_ms]

    def poll():
        now = clock[0]
        while meter.step(now) != meters.SAMPLE:
            now += 5
        clock[0] = now

    return poll


def dtsu_startup(ct=20, vt10=10, ua=2301.0, energy_1000=1234.5, frequency=5001.0):
    frames = [read_response(1, 3, words(ct, vt10)), R(ua, ua, ua, 0.0, 0.0, 0.0), R(energy_1000)]
    if not energy_1000:
        frames.append(R(0.0))  # then 0x401E is probed too
    frames.append(R(frequency))
    return frames


def test_dtsu666_startup_then_power_with_ct_ratio():
    stream = ReplayStream().answer(*dtsu_startup())
    stream.answer(R(28500.0, 1048.0, 1089.0, 713.0), R(2300.0, 2310.0, 2320.0, 5250.0, 5000.0, 4000.0))
    export = (-15000.0, -5000.0, -5000.0, -5000.0)
    # power reads alternate between 8 and 10 registers (Qt, unused), so two in a row differ in length
    stream.answer(R(*export, 0.0), R(5000.0), R(*export), R(1500.0), R(*export, 0.0), R(12.5))
    reading = Reading()
    meter = meters.create("dtsu666", modbus.Master(stream, late_ms=0), 1, reading, slow_every=1, period_ms=100)
    assert drive(meter, 0, 40) == [meters.STARTED]
    assert (meter.ct_ratio, meter.vt_ratio10, meter.variant) == (20, 10, "native")
    assert meter.energy_register == 0x101E
    assert drive(meter, 45, 99) == [meters.SAMPLE, meters.UPDATED]
    # Pt 28500 (0.1 W) x CT 20 = 57000 W primary
    assert reading.power_dw == 570000 and reading.valid and reading.seq == 1
    assert list(reading.phase_power_dw) == [20960, 21780, 14260]
    assert list(reading.voltage_dv) == [2300, 2310, 2320]
    assert list(reading.current_ma) == [105000, 100000, 80000]  # 5.25 A x 20
    assert drive(meter, 100, 399) == [meters.SAMPLE, meters.UPDATED] * 3
    assert reading.power_dw == -300000  # export
    assert reading.frequency_chz == 5000
    assert reading.import_wh == 1500 * 1000 * 20
    assert reading.export_wh == 12500 * 20
    assert meter.ok == 12 and meter.timeout == 0


def test_dtsu666_requests_follow_the_reference_frames():
    stream = ReplayStream().answer(*dtsu_startup())
    meter = meters.create("dtsu666", modbus.Master(stream, late_ms=0), 1, Reading())
    meter.step(0)
    assert stream.request() == bytes.fromhex("01030006000224 0A".replace(" ", ""))
    drive(meter, 5, 45)
    assert stream.request() == bytes.fromhex("010320120008EFC9")  # Pt..Pc in one read


def test_dtsu666_h_variant_and_energy_family_4000():
    stream = ReplayStream().answer(*dtsu_startup(ua=231.0, energy_1000=0.0, frequency=49.98))
    reading = Reading()
    meter = meters.create("dtsu666", modbus.Master(stream, late_ms=0), 1, reading)
    assert drive(meter, 0, 50) == [meters.STARTED]
    assert meter.variant == "H" and meter.energy_register == 0x101E  # answered, if with 0
    assert reading.frequency_chz == 4998
    stream = ReplayStream().answer(read_response(1, 3, words(1, 10)), R(231.0, 231.0, 231.0, 0.0, 0.0, 0.0))
    stream.answer(exception_response(1, 3, 2))
    stream.answer(R(77.0), R(50.0), R(50.0, 100.0, -25.5, -24.5))
    meter = meters.create("dtsu666", modbus.Master(stream, late_ms=0), 1, reading, slow_every=100)
    assert drive(meter, 0, 100) == [meters.STARTED, meters.SAMPLE]
    assert meter.variant == "H" and meter.energy_register == 0x401E
    assert reading.power_dw == 500  # engineering units: 50.0 W, no ratios
    assert list(reading.phase_power_dw) == [1000, -255, -245]


def test_ratio_overrides_skip_nothing_but_win():
    stream = ReplayStream().answer(*dtsu_startup(ct=20, vt10=10))
    stream.answer(R(1000.0, 0.0, 0.0, 0.0))
    reading = Reading()
    meter = meters.create("dtsu666", modbus.Master(stream, late_ms=0), 1, reading, ct_ratio=60, vt_ratio=2.5)
    drive(meter, 0, 60)
    assert (meter.ct_ratio, meter.vt_ratio10) == (60, 25)
    assert reading.power_dw == 1000 * 60 * 25 // 10


def test_ddsu666_power_in_kw_and_invert():
    for invert, expected in ((False, 12500), (True, -12500)):
        stream = ReplayStream().answer(R(50.02), R(230.1, 5.5, 1.25), R(230.1, 5.5))  # U, I, P: P in kW
        reading = Reading()
        meter = meters.create("ddsu666", modbus.Master(stream, late_ms=0), 1, reading, invert=invert, slow_every=1)
        assert drive(meter, 0, 30) == [meters.STARTED, meters.SAMPLE, meters.UPDATED]
        assert reading.power_dw == expected and reading.phase_power_dw[0] == expected
        assert reading.phases == 1 and reading.frequency_chz == 5002
        assert reading.voltage_dv[0] == 2301 and reading.current_ma[0] == 5500


def test_invert_swaps_the_energies():
    power = R(-100.0, fc=4)
    stream = ReplayStream().answer(R(50.0, 0.0, 0.0, fc=4), power, R(230.0, 0.0, 0.0, 0.4, fc=4))
    stream.answer(R(-100.0, 0.0, fc=4), R(50.0, 10.0, 2.0, fc=4), power)  # Hz, import, export in one read
    reading = Reading()
    master = modbus.Master(stream, late_ms=0)
    meter = meters.create("sdm120", master, 1, reading, invert=True, slow_every=1, period_ms=0)
    drive(meter, 0, 100)
    assert reading.power_dw == 1000 and reading.current_ma[0] == 400
    assert (reading.import_wh, reading.export_wh) == (2000, 10000)


def test_sdm630_total_is_the_sum_of_phases():
    stream = ReplayStream().answer(R(49.9, fc=4), R(-196.25, 100.0, 50.0, fc=4))
    reading = Reading()
    meter = meters.create("sdm630", modbus.Master(stream, late_ms=0), 1, reading)
    assert drive(meter, 0, 20) == [meters.STARTED, meters.SAMPLE]
    assert stream.request() == bytes.fromhex("0104000C0006B00B")
    assert list(reading.phase_power_dw) == [-1963, 1000, 500]
    assert reading.power_dw == -463


def test_nan_power_or_a_timeout_makes_the_reading_invalid():
    nan = read_response(1, 4, bytes.fromhex("7FC0000000000000"))  # the longer power read
    stream = ReplayStream().answer(R(50.0, 0.0, 0.0, fc=4), R(100.0, fc=4), nan, b"", b"", R(100.0, 0.0, fc=4))
    reading = Reading()
    master = modbus.Master(stream, timeout_ms=50, retries=1, late_ms=100)
    meter = meters.create("sdm120", master, 1, reading, period_ms=200, slow_every=100)
    assert drive(meter, 0, 20) == [meters.STARTED, meters.SAMPLE]
    assert reading.valid and reading.seq == 1
    assert drive(meter, 200, 220) == [meters.INVALID_VALUE]
    assert not reading.valid and reading.power_dw == 1000 and meter.invalid == 1
    assert drive(meter, 400, 520) == [meters.TIMEOUT]
    assert not reading.valid and meter.timeout == 1 and master.timeout == 2
    assert drive(meter, 600, 620) == [meters.SAMPLE]
    assert reading.valid and reading.seq == 2


def test_wrong_meter_fails_startup_and_retries_later():
    stream = ReplayStream().answer(R(2300.0, 0.0, 0.0, fc=4), R(50.0, 0.0, 0.0, fc=4), R(100.0, fc=4))
    reading = Reading()
    meter = meters.create("sdm120", modbus.Master(stream, late_ms=0), 1, reading, retry_ms=1000)
    assert drive(meter, 0, 995) == [meters.WRONG_METER]
    assert not meter.started and not reading.valid
    assert drive(meter, 1000, 1020) == [meters.STARTED, meters.SAMPLE]


def test_chint_falls_back_to_fc04_on_illegal_function():
    stream = ReplayStream().answer(exception_response(1, 3, 1), read_response(1, 4, floats(1.25)))
    stream.answer(R(50.0, fc=4), R(1.0, fc=4))
    meter = meters.create("ddsu666", modbus.Master(stream, late_ms=0), 1, Reading())
    assert drive(meter, 0, 30)[:2] == [meters.EXCEPTION, meters.WRONG_METER]
    assert meter.fc == 4
    meter = meters.create("ddsu666", modbus.Master(ReplayStream(), late_ms=0), 1, Reading(), fc=3)
    assert meter.fc == 3 and not meter.auto_fc


def test_two_meters_share_one_bus():
    stream = ReplayStream()
    stream.answer(R(50.0, 0.0, 0.0, fc=4, address=2), R(50.0), R(-100.0, fc=4, address=2), R(0.0, 0.0, 1.5))
    master = modbus.Master(stream, late_ms=0)
    grid, pv = Reading(), Reading()
    pv_meter = meters.create("sdm120", master, 2, pv)
    grid_meter = meters.create("ddsu666", master, 1, grid)
    statuses = []
    for now in range(0, 60, 2):
        statuses.append(pv_meter.step(now))
        statuses.append(grid_meter.step(now))
    assert meters.WAIT_BUS in statuses
    assert pv.power_dw == -1000 and grid.power_dw == 15000
    assert pv_meter.ok == 2 and grid_meter.ok == 2


def test_bad_options_are_refused():
    master = modbus.Master(ReplayStream(), late_ms=0)
    raises(ValueError, meters.create, "dtsu999", master, 1, Reading())
    raises(ValueError, meters.create, "dtsu666", master, 0, Reading())
    raises(ValueError, lambda: meters.create("dtsu666", master, 1, Reading(), ct_ratio=10000))


def test_ratio_scale_reduces_and_refuses_overflow():
    assert meters.ratio_scale(1, 1, meters.R_CTVT, 20, 10) == (20, 1)
    assert meters.ratio_scale(1000, 1, meters.R_CTVT, 9999, 25) == (24997500, 1)
    assert meters.ratio_scale(1, 1, meters.R_VT, 1, 15) == (3, 2)
    assert meters.ratio_scale(10000, 1, meters.R_CTVT, 9999, 9999)[0] == 0


@micropython_only
def test_dtsu666_poll_allocates_nothing_over_1000_polls():
    stream = ReplayStream().answer(*dtsu_startup())
    master = modbus.Master(stream, late_ms=0)
    reading = Reading()
    meter = meters.create("dtsu666", master, 1, reading, period_ms=20, slow_every=1)
    drive(meter, 0, 40)
    assert meter.started
    # from now on the meter answers every request, in the order the driver asks
    stream.clear().replay = True
    power, longer = R(28500.0, 1048.0, 1089.0, 713.0), R(28500.0, 1048.0, 1089.0, 713.0, 0.0)
    stream.answer(power, R(2300.0, 2310.0, 2320.0, 5250.0, 5000.0, 4000.0), longer, R(5000.0))
    stream.answer(power, R(1500.0), longer, R(12.5))
    allocs.assert_free(poller(meter, 100), 1000)
    state = (reading.seq, reading.valid, meter.timeout, meter.crc, reading.power_dw, reading.import_wh)
    assert state == (2001, True, 0, 0, 570000, 30000000), state


@micropython_only
def test_every_model_polls_power_and_slow_blocks_without_allocating():
    cases = (  # model, start-up answer, power (and its longer read), slow blocks
        ("ddsu666", R(50.0), (230.0, 5.0, 1.25), (R(230.0, 5.0), R(50.0), R(10.0), R(2.0))),
        ("sdm120", R(50.0, 1.0, 2.0, fc=4), (-196.25,), (R(230.0, 0.0, 0.0, 5.0, fc=4), R(50.0, 10.0, 2.0, fc=4))),
        (
            "sdm630",
            R(50.0, fc=4),
            (1.0, 2.0, 3.0),
            (R(230.0, 231.0, 232.0, 1.0, 2.0, 3.0, fc=4), R(50.0, fc=4), R(10.0, 2.0, fc=4)),
        ),
    )
    for model, startup, power, slow in cases:
        fc = startup[1]
        stream = ReplayStream().answer(startup)
        reading = Reading()
        meter = meters.create(model, modbus.Master(stream, late_ms=0), 1, reading, period_ms=10, slow_every=1)
        drive(meter, 0, 10)
        assert meter.started, model
        stream.clear().replay = True
        shapes = (R(*power, fc=fc), R(*power, 0.0, fc=fc))
        for index, answer in enumerate(slow + slow):  # power, slow 1, longer power, slow 2, ... twice round
            stream.answer(shapes[index % 2], answer)
        allocs.assert_free(poller(meter, 100), 500)
        assert reading.valid and meter.crc == 0 and meter.invalid == 0, model


@micropython_only
def test_failing_polls_allocate_nothing_either():
    stream = ReplayStream().answer(R(50.0, fc=4))
    reading = Reading()
    master = modbus.Master(stream, timeout_ms=20, retries=1, late_ms=40)
    meter = meters.create("sdm630", master, 1, reading, period_ms=0, slow_every=1000)
    drive(meter, 0, 10)
    assert meter.started
    stream.clear().replay = True
    nan = read_response(1, 4, bytes.fromhex("7FC00000") * 3)
    nan_longer = read_response(1, 4, bytes.fromhex("7FC00000") * 4)
    garbled = bytearray(R(1.0, 2.0, 3.0, fc=4))
    garbled[4] ^= 1
    stream.answer(nan, nan_longer, exception_response(1, 4, 4), b"", b"", bytes(garbled), bytes(garbled))
    clock = [100]

    def failing_poll():
        now = clock[0]
        status = meter.step(now)
        while status == meters.BUSY or status == meters.IDLE or status == meters.WAIT_BUS:
            now += 5
            status = meter.step(now)
        clock[0] = now

    allocs.assert_free(failing_poll, 600)
    assert not reading.valid
    assert meter.invalid > 100 and meter.exception > 100 and meter.timeout > 100 and meter.crc > 100


@micropython_only
def test_start_up_against_a_missing_meter_allocates_nothing():
    for model in ("dtsu666", "ddsu666", "sdm630"):
        stream = ReplayStream(replay=True).answer(b"")
        master = modbus.Master(stream, timeout_ms=20, retries=1, late_ms=20)
        meter = meters.create(model, master, 1, Reading(), retry_ms=100)
        clock = [0]

        def attempt(meter=meter, clock=clock):
            now = clock[0]
            status = meter.step(now)
            while status == meters.BUSY or status == meters.IDLE:
                now += 5
                status = meter.step(now)
            clock[0] = now

        allocs.assert_free(attempt, 200)
        assert meter.timeout > 200 and not meter.started, model


def test_power_reads_in_a_row_differ_in_length_so_a_stray_answer_is_not_taken():
    # The second power read is one float longer: the first read's answer, arriving again
    # (late or duplicated) during the second, has the wrong byte count and is skipped.
    first = R(-196.25, fc=4)
    stream = ReplayStream().answer(R(50.0, 1.0, 2.0, fc=4), first, first + R(-50.0, 0.0, fc=4))
    reading = Reading()
    meter = meters.create("sdm120", modbus.Master(stream, late_ms=0), 1, reading, period_ms=100, slow_every=100)
    assert drive(meter, 0, 20) == [meters.STARTED, meters.SAMPLE]
    assert stream.request() == bytes.fromhex("0104000C0002B1C8")
    assert drive(meter, 100, 120) == [meters.SAMPLE]
    assert stream.request()[4:6] == b"\x00\x04" and reading.power_dw == -500


def test_a_meter_refusing_the_longer_read_keeps_its_samples():
    refused = exception_response(1, 4, 2)
    stream = ReplayStream().answer(R(50.0, 1.0, 2.0, fc=4), R(-196.25, fc=4), refused, R(-100.0, fc=4))
    stream.answer(refused, R(-94.0, fc=4), refused, R(-93.0, fc=4), R(-92.0, fc=4), R(-90.0, fc=4))
    reading = Reading()
    meter = meters.create("sdm120", modbus.Master(stream, late_ms=0), 1, reading, period_ms=100, slow_every=100)
    assert drive(meter, 0, 20) == [meters.STARTED, meters.SAMPLE]
    assert drive(meter, 100, 130) == [meters.SAMPLE]  # the plain read at once, the reading stays valid
    assert reading.valid and reading.power_dw == -1000 and meter.alternate_ok  # one refusal may be a line fault
    assert drive(meter, 200, 350) == [meters.SAMPLE] * 2
    assert reading.power_dw == -930 and not meter.alternate_ok  # three in a row: the meter has no such read
    assert drive(meter, 355, 560) == [meters.SAMPLE] * 2  # plain reads only from now on
    assert stream.request()[4:6] == b"\x00\x02" and reading.power_dw == -900 and meter.exception == 0


def _power_read_shared(table, chint_startup):
    """True if the power read (either length) has the byte count of another read of the driver."""
    blocks = table[4]
    power = blocks[0][1]
    others = [block[1] for block in blocks[1:]] + [blocks[table[3]][1]]  # the start-up check reads frequency
    if chint_startup:
        others.append(meters.STARTUP_COUNT)
    return power in others or power + 2 in others  # (the alternate read: one float more)


def test_every_model_has_a_power_read_no_other_read_shares():
    """Late answers are told apart by their length (meters.py): checked here, not by the device at start-up."""
    for name in meters.MODELS:
        module = __import__("meter_" + name)
        assert not _power_read_shared(module.TABLE, module.DRIVER is not meters.Meter), name
        meter = meters.create(name, modbus.Master(ReplayStream(), late_ms=0), 1, Reading())
        assert meter.started is False, name
    assert not _power_read_shared(meter_dtsu666.DTSU666H, True)
    clash = list(meter_sdm630.SDM630)
    clash[4] = meter_sdm630.SDM630[4][:2] + ((0x0000, 8, ()),)  # a slow block as long as the longer power read
    assert _power_read_shared(tuple(clash), False)
