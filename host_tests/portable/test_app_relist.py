"""A new inverter list with SunSpec rows, swapped in between two ticks (firmware/relist.py), on the fake chip.

The meter bus's read-only master is handed over to a writing one with the meter's read in flight; an old
SunSpec link's transaction is ended as unanswered and its late answer drained, never taken; mixed lists
(Hoymiles on the radio + SunSpec) and a list that goes from SunSpec to none and back. The DTSU666 is a
register slave on the RS485 line; nobody answers for the SunSpec addresses (the real inverter:
host_tests/test_firmware_relist.py).
"""

import cfg
import machine
import modbus
import modbus_write
from compat import ticks_add, ticks_diff
from crc16 import crc16_pure
from fleet import CMD_ACKED
from test_app_loop import RadioSite, _let_scheduled_run

ROOF = {"serial": "roof", "rated_w": 5000, "sunspec_address": 3}
HM_ROW = {"serial": "114172818832", "rated_w": 800, "phase": 1, "inputs": 2}


def _run_until(site, done, limit_ms=5000):
    if not site.run(limit_ms, done):
        raise AssertionError("not within %d ms" % limit_ms)


def _answer(address, count):
    """An FC03 answer of `count` registers (all 0x5555) from `address`, as a slave that answers late sends it."""
    body = bytes((address, 3, 2 * count)) + b"\x55" * (2 * count)
    crc = crc16_pure(body, 0, len(body))
    return body + bytes((crc & 0xFF, crc >> 8))


def test_a_first_sunspec_row_gives_the_meter_bus_a_writing_master_that_carries_the_read_in_flight():
    site = RadioSite([], [])
    gateway = site.app
    try:
        gateway.start()
        site.run(6000)  # the DTSU666's start-up, then power reads
        old = gateway.master
        assert type(old) is modbus.Master and gateway.reading.valid  # no SunSpec row: a master that only reads
        _run_until(site, lambda: old._busy)
        ok, seq, recent, t_sent = old.ok, gateway.reading.seq, old._recent, old._t_sent
        cfg.set("inverters", [ROOF])
        _let_scheduled_run()
        master, meter = gateway.master, gateway.meter
        assert type(master) is modbus_write.WriteMaster and gateway.sunspec.master is master
        assert meter.master is master and meter._rx is master.rx and master._recent is recent
        assert master._busy and master.address == 1 and master.ok == ok and master._t_sent == t_sent  # in flight
        site.run(3000)
        assert master.ok > ok and gateway.reading.seq > seq  # the read in flight and the next ones completed
        assert master.crc == 0 and meter.timeout == meter.crc == 0
        assert gateway.sunspec.failures[0] > 0  # its discovery reads went out on the new master (unanswered)
    finally:
        site.close()


def test_an_old_links_transaction_ends_unanswered_and_its_late_answer_is_drained_not_taken():
    site = RadioSite([ROOF], [])
    gateway = site.app
    try:
        gateway.start()
        site.run(6000)
        link, master = gateway.sunspec, gateway.master
        _run_until(site, lambda: link._job != 0)
        assert master._busy and master.address == 3
        count, t_sent, late_ms = master.count, master._t_sent, master._late
        cfg.set("inverters", [dict(ROOF, rated_w=4000)])  # the same inverter: the same slave, the same reads
        _let_scheduled_run()
        new = gateway.sunspec
        assert new is not link and new.master is master is gateway.master
        assert not master._busy and master._quiet and master.waiter != link._token  # nobody left to collect it
        assert ticks_diff(master._t_free, ticks_add(t_sent, late_ms)) >= 0  # quiet until a late answer is in
        meter = gateway.meter
        drained, timeouts, ok, meter_ok, seq = master.drained, master.timeout, master.ok, meter.ok, gateway.reading.seq
        late = _answer(3, count)  # the late answer to the old link's read: it would fit the new link's first
        site.meter.line.send(late)
        site.run(6000)
        assert master.drained >= drained + len(late) and master.crc == 0
        assert master.ok - ok == meter.ok - meter_ok > 0  # every answer taken since was the meter's own
        assert gateway.reading.seq > seq and meter.timeout == meter.crc == 0
        assert new.failures[0] > 0 and master.timeout > timeouts  # the new link's reads went out, unanswered
    finally:
        site.close()


def test_mixed_lists_and_from_sunspec_to_none_and_back():
    site = RadioSite([HM_ROW, ROOF], [HM_ROW])
    gateway = site.app
    try:
        gateway.start()
        site.run(2000)
        master, radio = gateway.master, gateway.radio
        assert gateway.sunspec.row[0] == 1 and gateway.radio.link.row[0] == 0
        cfg.set("inverters", [HM_ROW])  # SunSpec to none
        site.run(2000)
        assert gateway.sunspec is None and gateway.links == () and gateway.master is master
        assert gateway.meter.master is master and gateway.fleet.cmd_state[0] == CMD_ACKED  # on the air
        cfg.set("inverters", [ROOF, HM_ROW])  # and back, the rows the other way round
        site.run(3000)
        link = gateway.sunspec
        assert gateway.links == (link,) and link.master is master and link.row[0] == 0 and link.count == 1
        assert gateway.radio is radio and radio.link.row[0] == 1 and radio.link.count == 1
        fleet = gateway.fleet
        assert fleet.cmd_state[1] == CMD_ACKED and fleet.target_dw[1] == gateway.controller.failsafe_dw[1]
        assert fleet.can_switch_off[0] and link.failures[0] > 0  # the SunSpec link's row, asked on the bus
    finally:
        site.close()


def test_on_the_second_bus_the_running_master_is_reused_or_the_bus_opened():
    import app
    import relist

    machine.reset_hardware()
    machine.UART.wire(2, machine.Line(), de=4)
    machine.UART.wire(1, machine.Line(), de=None)
    settings = cfg.defaults()
    settings.update(http_enabled=False, sunspec_bus="second")
    board = {"name": "test board", "meter_bus": {"uart": 2, "tx": 17, "rx": 16, "de": 4},
             "sunspec_bus": {"uart": 1, "tx": 25, "rx": 26, "de": None}}
    gateway = app.App(board, settings)
    meter_master = gateway.master
    assert gateway.sunspec is None and type(meter_master) is modbus.Master
    settings["inverters"] = [ROOF]
    relist.swap(gateway, settings, 0)  # the second bus opened now
    second = gateway.sunspec.master
    assert type(second) is modbus_write.WriteMaster and gateway.master is meter_master  # the meter's bus only reads
    settings["inverters"] = [dict(ROOF, sunspec_address=4), dict(ROOF, serial="garage", sunspec_address=5)]
    relist.swap(gateway, settings, 0)
    assert gateway.sunspec.master is second and gateway.sunspec.count == 2  # the running one, not opened again
    settings["inverters"] = []
    relist.swap(gateway, settings, 0)
    assert gateway.sunspec is None and gateway.links == () and gateway.master is meter_master


def test_a_dtu_bridge_comes_goes_and_comes_back_with_the_list():
    import app
    import relist

    machine.reset_hardware()
    machine.UART.wire(2, machine.Line(), de=4)
    settings = cfg.defaults()
    settings.update(http_enabled=False, mqtt_server="127.0.0.1", dtu_type="opendtu")  # never connected here
    gateway = app.App({"name": "test board", "meter_bus": {"uart": 2, "tx": 17, "rx": 16, "de": 4}}, settings)
    online = gateway.online
    session, telemetry = online.session, online.telemetry
    assert online.bridge is None and session.hooks == [telemetry.announce]  # no inverter: no bridge
    for rows in ([HM_ROW], [], [dict(HM_ROW, serial="116180216734"), HM_ROW]):
        settings["inverters"] = rows
        relist.swap(gateway, settings, 0)
        bridge = online.bridge
        assert telemetry.bridge is bridge and gateway.radio is None and gateway.links == ()
        if rows:
            assert bridge.fleet is gateway.fleet and bridge.count == len(rows)
            assert session.hooks == [bridge._subscribe, telemetry.announce]  # replaced, not added; first
            assert session.client.cb == bridge._on_message
            assert bridge.limit_topics[-1] == b"solar/114172818832/cmd/limit_nonpersistent_absolute"
        else:
            assert bridge is None and session.hooks == [telemetry.announce] and session.client.cb is None


def test_behind_a_dtu_the_sunspec_rows_stay_on_the_bus_and_ahoydtu_numbers_only_its_own():
    import app

    machine.reset_hardware()
    machine.UART.wire(2, machine.Line(), de=4)
    settings = cfg.defaults()
    rows = [dict(HM_ROW, dtu_name="garage"), ROOF, dict(HM_ROW, serial="116180216734", dtu_name="roof2")]
    settings.update(http_enabled=False, mqtt_server="127.0.0.1", dtu_type="ahoydtu", inverters=rows)
    gateway = app.App({"name": "test board", "meter_bus": {"uart": 2, "tx": 17, "rx": 16, "de": 4}}, settings)
    bridge = gateway.online.bridge
    assert bridge.limit_topics == [b"inverter/ctrl/limit/0", None, b"inverter/ctrl/limit/1"]
    assert bridge.power_topics[2] == b"inverter/roof2/ch0/P_AC"
    assert list(gateway.sunspec.row) == [1]  # the SunSpec link has the bus's row only
