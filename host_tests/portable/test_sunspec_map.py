"""SunSpec discovery, conversions and the link's state machine on both runtimes (a byte-level slave stream)."""

import allocs
import fleet
import modbus_write
import sunspec
import sunspec_link
from modbus_frames import frame, read_response, words
from replay_stream import ReplayStream
from stream_slave import StreamSlave
from testkit import micropython_only

ADDRESS = 3


def build(base=40000, inverter=103, settings=True, controls=123, der_length=65, wmax=5000, rating_sf=0, pct_sf=-1,
          common_length=66):
    """{register: value} of a SunSpec map, and {name: register of the model's ID}."""
    regs = {}
    where = {}
    cursor = [base]

    def put(values):
        for value in values:
            regs[cursor[0]] = value & 0xFFFF
            cursor[0] += 1

    def model(name, ident, length, fill=0):
        where[name] = cursor[0]
        put([ident, length] + [fill] * length)

    put([0x5375, 0x6E53])
    model("common", 1, common_length)
    model("inverter", inverter, 50 if inverter < 110 else 60)
    model("nameplate", 120, 26, 0xFFFF)
    regs[where["nameplate"] + 3] = 4800 & 0xFFFF  # WRtg
    regs[where["nameplate"] + 4] = rating_sf & 0xFFFF
    if settings:
        model("settings", 121, 30, 0xFFFF)
        regs[where["settings"] + 2] = wmax
        regs[where["settings"] + 22] = rating_sf & 0xFFFF
    if controls == 123:
        model("controls", 123, 24)
        regs[where["controls"] + 23] = pct_sf & 0xFFFF
    elif controls == 704:
        model("controls", 704, der_length)
        if der_length in sunspec.DER_SF_BY_LENGTH:
            regs[where["controls"] + sunspec.DER_SF_BY_LENGTH[der_length]] = pct_sf & 0xFFFF
    put([0xFFFF, 0])
    return regs, where


class Rig:
    """A link over a real Modbus master whose stream is a register slave; time is simulated."""

    def __init__(self, regs, rows=1, **options):
        self.slave = StreamSlave(ADDRESS, regs)
        self.master = modbus_write.WriteMaster(self.slave, timeout_ms=50, retries=0, silence_ms=2, late_ms=0)
        self.fleet = fleet.Fleet(rows)
        for row in range(rows):
            self.fleet.add(row, 5000)
        self.link = sunspec_link.SunSpecLink(self.master, self.fleet, ((0, ADDRESS),), **options)
        self.now = 1000

    def run(self, ms, stop=None):
        seen = []
        end = self.now + ms
        while self.now < end:
            status = self.link.step(self.now)
            if status not in (sunspec_link.IDLE, sunspec_link.BUSY, sunspec_link.WAIT_BUS):
                seen.append(status)
                if status == stop:
                    break
            self.now += 1
        return seen

    @property
    def map(self):
        return self.link.maps[0]


# --- conversions -------------------------------------------------------------------------


def test_to_dw_scales_and_rounds():
    assert sunspec.to_dw(1234, 0) == 12340
    assert sunspec.to_dw(1234, 2) == 1234000
    assert sunspec.to_dw(-1234, -1) == -1234
    assert sunspec.to_dw(1235, -2) == 124  # 12.35 W = 123.5 dW, half away from zero
    assert sunspec.to_dw(-1235, -2) == -124
    assert sunspec.to_dw(65535, 3) == 655350000
    assert sunspec.to_dw(5, 4) == sunspec.INVALID
    assert sunspec.to_dw(5, -7) == sunspec.INVALID
    assert sunspec.to_dw(5, -32768) == sunspec.INVALID


def test_limit_value_is_a_rounded_percentage_of_wmax():
    assert sunspec.full_scale(0) == 100 and sunspec.full_scale(-1) == 1000 and sunspec.full_scale(-2) == 10000
    assert sunspec.full_scale(1) == sunspec.INVALID
    assert sunspec.full_scale(-3) == sunspec.INVALID  # 100 % would not fit the uint16 WMaxLimPct
    assert sunspec.limit_value(20000, 50000, -1) == 400  # 2 kW of 5 kW = 40.0 %
    assert sunspec.limit_value(20000, 50000, -2) == 4000
    assert sunspec.limit_value(20000, 50000, 0) == 40
    assert sunspec.limit_value(10000, 30000, -1) == 333  # 33.33 %
    assert sunspec.limit_value(20000, 30000, -1) == 667  # 66.67 % rounds up
    assert sunspec.limit_value(0, 50000, -1) == 0
    assert sunspec.limit_value(-5, 50000, -1) == 0
    assert sunspec.limit_value(60000, 50000, -1) == 1000  # clamped at 100 %
    assert sunspec.limit_value(99999999, 99999999, -2) == 10000
    assert sunspec.limit_value(99999998, 99999999, -2) == 10000
    assert sunspec.limit_value(1, 99999999, -2) == 0
    assert sunspec.limit_value(20000, 0, -1) == sunspec.INVALID


def test_signed16():
    assert [sunspec.signed16(v) for v in (0, 1, 0x7FFF, 0x8000, 0xFFFF)] == [0, 1, 32767, -32768, -1]


# --- discovery ------------------------------------------------------------------------------


def test_discovery_at_each_base():
    for base in sunspec.BASES:
        regs, where = build(base=base)
        rig = Rig(regs)
        assert sunspec_link.READY in rig.run(500, sunspec_link.READY)
        info = rig.map
        assert info.base == base and info.error == sunspec.OK
        assert info.inverter_reg == where["inverter"] and info.inverter_model == 103
        assert info.limit_model == sunspec.CONTROLS and info.limit_reg == where["controls"] + 5
        assert info.wmax_dw == 50000 and info.limit_sf == -1 and info.full_scale == 1000


def test_704_where_123_is_absent_for_both_known_lengths():
    for length in (65, 69):
        regs, where = build(controls=704, der_length=length, pct_sf=-2)
        rig = Rig(regs)
        assert sunspec_link.READY in rig.run(500, sunspec_link.READY)
        assert rig.map.limit_model == sunspec.DER_AC_CONTROLS
        assert rig.map.limit_reg == where["controls"] + 14 and rig.map.limit_sf == -2


def test_123_is_preferred_over_704():
    regs, where = build()
    end = max(regs) - 1  # replace the end marker by a 704 and a new end marker
    regs[end], regs[end + 1] = 704, 65
    for offset in range(65):
        regs[end + 2 + offset] = 0
    regs[end + 67], regs[end + 68] = 0xFFFF, 0
    rig = Rig(regs)
    rig.run(500, sunspec_link.READY)
    assert rig.map.limit_model == sunspec.CONTROLS and rig.map.der_reg == end


def test_rating_falls_back_to_the_nameplate():
    rig = Rig(build(settings=False)[0])
    rig.run(500, sunspec_link.READY)
    assert rig.map.ready and rig.map.wmax_dw == 48000
    regs, where = build(wmax=0xFFFF)  # 121 present, WMax not implemented
    rig = Rig(regs)
    rig.run(500, sunspec_link.READY)
    assert rig.map.ready and rig.map.wmax_dw == 48000


def test_scale_factors_of_the_rating():
    rig = Rig(build(wmax=500, rating_sf=1)[0])
    rig.run(500, sunspec_link.READY)
    assert rig.map.wmax_dw == 50000


def broken(regs, error):
    rig = Rig(regs, retry_ms=100000)
    rig.run(2000)
    assert rig.map.phase == sunspec.BROKEN and rig.map.error == error, (rig.map.phase, rig.map.error)
    return rig


def test_maps_we_cannot_use_are_reported():
    broken({1: 2}, sunspec.NO_MAP)
    broken(build(inverter=1)[0], sunspec.NO_INVERTER)  # a second "common" model, no inverter
    broken(build(controls=None)[0], sunspec.NO_CONTROLS)
    broken(build(controls=704, der_length=60)[0], sunspec.NO_CONTROLS)  # a 704 revision we do not know
    broken(build(pct_sf=1)[0], sunspec.BAD_SCALE)
    broken(build(pct_sf=-3)[0], sunspec.BAD_SCALE)
    regs, where = build(settings=False)
    regs[where["nameplate"] + 3] = 0xFFFF
    broken(regs, sunspec.NO_RATING)
    endless = {40000: 0x5375, 40001: 0x6E53}
    for index in range(sunspec.MAX_MODELS + 1):
        endless[40002 + 2 * index] = 64000
        endless[40003 + 2 * index] = 0
    broken(endless, sunspec.BAD_MAP)
    off_the_end = {40000: 0x5375, 40001: 0x6E53, 40002: 1, 40003: 30000}
    broken(off_the_end, sunspec.BAD_MAP)


def test_a_map_near_0xffff_is_refused_and_nothing_is_written():
    # The inverter, nameplate and controls models at the very end of the register space. A 123
    # shorter than its fields would put the limit block past 0xFFFF (taken modulo 2**16: register 0).
    for short_model in ("controls", "inverter", "nameplate"):
        regs, where = build(base=50000, common_length=0xFFFF - 50000 - 157)  # the END header at 0xFFF0
        regs[where[short_model] + 1] = 2  # length 2: the fields we use lie beyond the model
        regs[where[short_model] + 4] = 0xFFFF  # ... where the chain would now end
        regs[where[short_model] + 5] = 0
        rig = broken(regs, sunspec.SHORT_MODEL)
        rig.fleet.command(0, 20000, rig.now)
        rig.run(100)
        assert rig.slave.writes == [] and rig.fleet.cmd_state[0] == fleet.CMD_FAILED, short_model
    regs, where = build(base=50000, common_length=0xFFFF - 50000 - 157)
    assert max(regs) == 0xFFF1
    Rig(regs).run(500, sunspec_link.READY)  # it fits: found
    regs[where["controls"] + 1] = 40  # 123 now ends past 0xFFFF
    broken(regs, sunspec.BAD_MAP)
    regs[where["controls"] + 1] = 39  # ends at 0xFFFE: no room for the END header
    broken(regs, sunspec.BAD_MAP)


def test_the_master_refuses_a_block_past_0xffff():
    master = modbus_write.WriteMaster(StreamSlave(ADDRESS, {}))
    for call in (
        lambda: master.start_read(ADDRESS, 3, 0xFFFF, 2, 0),
        lambda: master.start_write_multiple(ADDRESS, 0xFFFD, [1, 2, 3, 4], 0),
        lambda: master.start_write_single(ADDRESS, 0x10000, 1, 0),
        lambda: master.start_read(ADDRESS, 3, -1, 2, 0),
    ):
        try:
            call()
        except ValueError as error:
            assert "0xFFFF" in str(error)
        else:
            raise AssertionError("not refused")
    assert master.start_read(ADDRESS, 3, 0xFFFE, 2, 0)


def test_a_silent_device_is_retried_later():
    regs, _ = build()
    rig = Rig(regs, retry_ms=5000)
    rig.slave.silent = True
    rig.run(1000)
    assert rig.map.phase == sunspec.BROKEN and rig.map.error == sunspec.NO_MAP
    rig.slave.silent = False
    rig.run(3000)
    assert rig.map.phase == sunspec.BROKEN  # waits for retry_ms
    rig.run(3000, sunspec_link.READY)
    assert rig.map.ready


# --- limits, heartbeat, output ------------------------------------------------------------------


def test_a_123_limit_is_one_block_write_then_acked():
    regs, where = build()
    rig = Rig(regs, revert_s=30)
    rig.run(500, sunspec_link.READY)
    rig.fleet.command(0, 20000, rig.now)
    assert sunspec_link.WRITTEN in rig.run(200, sunspec_link.WRITTEN)
    assert rig.slave.writes == [(where["controls"] + 5, [400, 0, 30, 0, 1])]
    assert rig.fleet.cmd_state[0] == fleet.CMD_ACKED
    assert list(rig.link.writes) == [1]


def test_a_704_limit_sets_the_reversion_value_and_timer():
    regs, where = build(controls=704, pct_sf=-2)
    rig = Rig(regs, revert_s=90, failsafe_pct10=125)
    rig.run(500, sunspec_link.READY)
    rig.fleet.command(0, 12345, rig.now)
    rig.run(200, sunspec_link.WRITTEN)
    # WMaxLimPctEna, WMaxLimPct 24.69 %, WMaxLimPctRvrt 12.50 %, WMaxLimPctRvrtEna, RvrtTms (uint32)
    assert rig.slave.writes == [(where["controls"] + 14, [1, 2469, 1250, 1, 0, 90])]


def test_no_revert_timer_when_revert_s_is_0():
    regs, where = build(controls=704)
    rig = Rig(regs, revert_s=0)
    rig.run(500, sunspec_link.READY)
    rig.fleet.command(0, 0, rig.now)
    rig.run(200, sunspec_link.WRITTEN)
    assert rig.slave.writes == [(where["controls"] + 14, [1, 0, 0, 0, 0, 0])]
    rig.run(100000)
    assert len(rig.slave.writes) == 1 and list(rig.link.heartbeats) == [0]


def test_the_heartbeat_rewrites_the_limit_before_the_revert_timer_ends():
    regs, where = build()
    rig = Rig(regs, revert_s=6, output_period_ms=100000)
    rig.run(500, sunspec_link.READY)
    rig.fleet.command(0, 30000, rig.now)
    rig.run(200, sunspec_link.WRITTEN)
    rig.run(10100)
    assert list(rig.link.heartbeats) == [5]  # every 2 s
    assert all(values == [600, 0, 6, 0, 1] for _, values in rig.slave.writes)
    assert rig.fleet.cmd_state[0] == fleet.CMD_ACKED


def test_a_newer_command_goes_before_the_heartbeat_and_power_reads():
    regs, where = build()
    rig = Rig(regs, revert_s=3, output_period_ms=1)
    rig.run(500, sunspec_link.READY)
    rig.fleet.command(0, 30000, rig.now)
    rig.run(200, sunspec_link.WRITTEN)
    rig.fleet.command(0, 10000, rig.now)
    rig.run(200, sunspec_link.WRITTEN)
    assert rig.slave.writes[-1][1][0] == 200


def test_output_is_reported_with_its_scale_factor():
    regs, where = build()
    regs[where["inverter"] + 14] = 12345
    regs[where["inverter"] + 15] = -1 & 0xFFFF
    rig = Rig(regs)
    assert sunspec_link.OUTPUT in rig.run(1000, sunspec_link.OUTPUT)
    assert rig.fleet.output_dw[0] == 12345 and rig.fleet.output_seq[0] == 1
    regs[where["inverter"] + 14] = -20 & 0xFFFF  # drawing 2 W at night
    rig.run(1500, sunspec_link.OUTPUT)
    assert rig.fleet.output_dw[0] == 0 and rig.fleet.output_seq[0] == 2
    regs[where["inverter"] + 14] = 0x8000  # not implemented
    assert sunspec_link.BAD_VALUE in rig.run(1500, sunspec_link.BAD_VALUE)
    assert rig.fleet.output_seq[0] == 2 and list(rig.link.bad_values) == [1]


def test_float_inverter_models_report_output():
    regs, where = build(inverter=113)
    high, low = 0x4519, 0x4800  # 2452.5 W as float32
    regs[where["inverter"] + 22], regs[where["inverter"] + 23] = high, low
    rig = Rig(regs)
    rig.run(1000, sunspec_link.OUTPUT)
    assert rig.map.float_values and rig.fleet.output_dw[0] == 24525


def test_a_command_queued_during_discovery_is_the_first_write():
    """At boot the fail-safe limits are queued before the map is known: they wait for it, then go first."""
    regs, where = build()
    rig = Rig(regs, revert_s=30)
    rig.fleet.command(0, 20000, rig.now)
    rig.link.step(rig.now)
    assert rig.fleet.cmd_state[0] == fleet.CMD_QUEUED
    seen = rig.run(1000, sunspec_link.WRITTEN)
    assert seen[-2:] == [sunspec_link.READY, sunspec_link.WRITTEN], seen
    assert rig.slave.writes == [(where["controls"] + 5, [400, 0, 30, 0, 1])]
    assert rig.fleet.cmd_state[0] == fleet.CMD_ACKED


def test_a_command_for_an_inverter_that_was_not_found_fails_at_once():
    rig = broken({1: 2}, sunspec.NO_MAP)
    rig.fleet.command(0, 20000, rig.now)
    rig.link.step(rig.now)
    assert rig.fleet.cmd_state[0] == fleet.CMD_FAILED


def test_a_lost_inverter_is_rediscovered_and_gets_its_limit_back():
    regs, where = build()
    rig = Rig(regs, fail_limit=3, retry_ms=1000, output_period_ms=10, revert_s=0)
    rig.run(500, sunspec_link.READY)
    rig.fleet.command(0, 20000, rig.now)
    rig.run(200, sunspec_link.WRITTEN)
    rig.slave.silent = True
    rig.fleet.command(0, 15000, rig.now)
    rig.run(300)
    assert rig.fleet.cmd_state[0] == fleet.CMD_FAILED
    assert not rig.map.ready and rig.link.failures[0] >= 3
    regs[where["controls"] + 5] = 1000  # it restarted at 100 %
    rig.slave.silent = False
    assert sunspec_link.READY in rig.run(5000, sunspec_link.READY)
    assert sunspec_link.WRITTEN in rig.run(100, sunspec_link.WRITTEN)
    assert rig.slave.writes[-1] == (where["controls"] + 5, [300, 0, 0, 0, 1])  # the newest target, at once
    assert list(rig.link.heartbeats) == [1]
    rig.run(10000)
    assert len(rig.slave.writes) == 2  # revert_s=0: no heartbeats after that


def test_a_rediscovered_inverter_that_never_got_a_limit_is_left_alone():
    regs, _ = build()
    rig = Rig(regs, fail_limit=2, retry_ms=100, output_period_ms=10)
    rig.run(500, sunspec_link.READY)
    rig.slave.silent = True
    rig.run(300)
    rig.slave.silent = False
    rig.run(3000, sunspec_link.READY)
    rig.run(3000)
    assert rig.map.ready and rig.slave.writes == []


def test_arguments_are_checked():
    table = fleet.Fleet(1)
    for options in ({"revert_s": -1}, {"revert_s": 70000}, {"failsafe_pct10": 1001}):
        try:
            sunspec_link.SunSpecLink(None, table, ((0, 1),), **options)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % options)


# --- allocation -------------------------------------------------------------------------------


@micropython_only
def test_discovery_and_power_reads_allocate_nothing():
    regs, where = build()
    rig = Rig(regs)
    rig.run(500, sunspec_link.READY)
    # From here on, the same power answer forever: a replay ring behind a fresh master.
    answer = read_response(ADDRESS, 3, words(12345, 0xFFFF))
    stream = ReplayStream(replay=True).answer(answer)
    rig.link.master = master = modbus_write.WriteMaster(stream, timeout_ms=50, retries=0, silence_ms=2, late_ms=0)
    link = rig.link
    link.output_period_ms = 0
    clock = [rig.now]

    def tick():
        clock[0] += 3
        link.step(clock[0])

    allocs.assert_free(tick, 2000)
    assert rig.fleet.output_dw[0] == 12345 and master.ok > 500
    # Discovery too: a map that keeps answering "SunS" and a first header, re-found again and again.
    stream = ReplayStream(replay=True).answer(read_response(ADDRESS, 3, words(0x5375, 0x6E53, 0xFFFF, 0)))
    link.master = modbus_write.WriteMaster(stream, timeout_ms=50, retries=0, silence_ms=2, late_ms=0)
    link.retry_ms = 0

    def rediscover():
        clock[0] += 3
        link.step(clock[0])

    allocs.assert_free(rediscover, 2000)
    assert rig.map.error == sunspec.NO_INVERTER


@micropython_only
def test_limit_writes_and_heartbeats_allocate_nothing():
    regs, where = build()
    rig = Rig(regs)
    rig.run(500, sunspec_link.READY)
    echo = frame(ADDRESS, 16, words(where["controls"] + 5, 5))
    link = rig.link
    stream = ReplayStream(replay=True).answer(echo)
    link.master = modbus_write.WriteMaster(stream, timeout_ms=50, retries=0, silence_ms=2, late_ms=0)
    link.output_period_ms = 1000000
    link.refresh_ms = 6  # a heartbeat every other transaction
    clock = [rig.now]

    def tick():
        clock[0] += 3
        if clock[0] % 30 < 3:
            rig.fleet.command(0, clock[0] % 50000, clock[0])
        link.step(clock[0])

    while link.writes[0] == 0:  # the master makes its FC16 request view at the first write
        tick()
    allocs.assert_free(tick, 3000)
    counts = (link.writes[0], link.heartbeats[0], link.failures[0])
    assert counts[0] > 100 and counts[1] > 100 and counts[2] == 0, counts
