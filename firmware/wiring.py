"""Builds the gateway's parts from the board file and the configuration, once, at boot.

    import wiring
    wiring.build(app, board, settings, make_links, data_dir)   # App.__init__ does this, then drops the module

It makes the Fleet, the Reading, the controller, the RS485 buses and Modbus
masters, the grid and PV meters, the supervisor and the guard, the files
(event log, energy counters, supervisor state), the network parts, and every
inverter link, and sets them as attributes of the App. Only what the
configuration uses is built, and only its modules are imported: no radio
driver without a radio, no MQTT without a broker, no WiFi without an SSID.
The network parts and the CMT2300A link are built by wiring_options.py,
imported only for them: a gateway without them does not intern their names.

Where each link runs. One rule: a link runs on the loop that serves its
transport, and nowhere else.

    link                                 transport        runs in                       App attribute
    SunSpec (lib/sunspec/sunspec_link)   Modbus RS485     the control tick              links
    host/test links (make_links)         -                the control tick              links
    Hoymiles (lib/hoymiles/hm_link)      nRF24L01+        its 4 ms ticker (hm_radio)    radio
    DTU bridge (lib/net/mqtt_bridge)     MQTT             the service loop (online)     online.bridge

Modbus links share the meter's bus and take turns with it per tick; the radio
must be looked at every 4 ms while an answer hops channels; MQTT is network
I/O, which never runs in the control tick. All of them read their commands
from the one Fleet, which the controller fills in the tick.

RAM: this module is needed only at boot; App drops it from sys.modules once
the parts exist, so its bytecode is freed (a frozen image costs nothing); it
drops hm_family and wiring_options itself. The interned strings of every
module loaded at boot stay for good.
Allocates freely; never runs in the tick.
"""

import gc
import sys

import machine
import meters
import modbus
import rs485
from cfg import phase_limits
from cfgstore import ConfigStore
from compat import const
from controller import GRID, LOAD, Controller
from energy import EnergyCounters
from events import EventRing
from fleet import Fleet
from guard import Guard
from reading import Reading

_RING_SIZE = const(32)


def build(app, board, settings, make_links=None, data_dir=None):
    app.fleet, app.controller = inverters(settings, app.phases)
    fleet = app.fleet
    app.serials = [row["serial"] for row in settings["inverters"]]
    app.reading = Reading()
    app.ring = EventRing(_RING_SIZE)
    limits = phase_limits(settings["phase_export_limit_w"])
    phases = app.phases
    app.radio = None
    if settings["dtu_type"] == "none":  # a DTU bridge is the link for every Hoymiles inverter
        app.radio = _radio_service(board, fleet, settings, app)
    _meters(app, board, settings)
    app.supervisor = None
    if settings["meter_position"] == "grid":  # only a grid-side meter measures export
        import supervisor

        app.supervisor = supervisor.Supervisor(
            app.ring, settings["export_limit_w"], limits, stage2_s=settings["excursion_stage2_s"],
            trip_s=settings["excursion_trip_s"], stage2_max=settings["stage2_events_max"],
            window_s=settings["stage2_window_min"] * 60, lockout_s=settings["lockout_h"] * 3600,
            stale_ms=settings["failsafe_ms"], phases=phases,
        )
    app.guard = Guard(app.reading, settings["meter_type"], app.ring, app.controller, app.supervisor,
                      settings["failsafe_ms"], phases=phases, nominal_voltage_v=settings["nominal_voltage_v"])
    _files(app, data_dir, settings)
    links = [] if make_links is None else list(make_links(fleet, settings))
    app.sunspec = _sunspec_link(board, app.master, fleet, settings)
    if app.sunspec is not None:
        links.append(app.sunspec)
    app.links = tuple(links)
    app.online = app.net = None
    if settings["wifi_ssid"] or settings["mqtt_server"] or settings["http_enabled"]:
        import wiring_options

        wiring_options.network(app, settings)
    drop_builders()


def drop_builders():
    """Drop the modules used only to build the parts (at boot, and by relist.py): their tables and code are freed."""
    for name in ("hm_family", "wiring_options", "wiring"):
        sys.modules.pop(name, None)


def inverters(settings, phases):
    """The Fleet of settings["inverters"] and its Controller: at boot, and for a new list (relist.py)."""
    rows = settings["inverters"]
    fleet = Fleet(len(rows))
    for index, row in enumerate(rows):
        fleet.add(index, rated_w=row["rated_w"], phase=row.get("phase", 1) - 1, inputs=row.get("inputs", 1))
    return fleet, Controller(
        fleet, export_limit_w=settings["export_limit_w"],
        phase_export_limit_w=phase_limits(settings["phase_export_limit_w"]),
        meter_position=LOAD if settings["meter_position"] == "load" else GRID,
        failsafe_ms=settings["failsafe_ms"], phases=phases,
    )


def _master(bus_pins, settings, writes=False):
    """The bus and its Modbus master; one that writes (modbus_write) only for a bus with SunSpec inverters."""
    baud, parity, stop_bits = settings["meter_baud"], settings["meter_parity"], settings["meter_stop_bits"]
    bus = rs485.open_bus(bus_pins, baud, parity, stop_bits)
    char_bits = 1 + 8 + (0 if parity == "N" else 1) + stop_bits
    # The answer is read at the tick after the request, one period later.
    kind = modbus.Master
    if writes:
        import modbus_write

        kind = modbus_write.WriteMaster
    return bus, kind(bus, baud, char_bits, timeout_ms=settings["control_period_ms"] + 250)


def _meters(app, board, settings):
    gc.collect()  # the radio's garbage goes first: the meter's table module needs room in one piece
    writes = settings["sunspec_bus"] != "second" and any("sunspec_address" in row for row in settings["inverters"])
    app.bus, app.master = _master(board["meter_bus"], settings, writes)
    period_ms = settings["meter_period_ms"]
    app.meter = meters.create(settings["meter_type"], app.master, settings["meter_address"], app.reading,
                              period_ms=period_ms, late_ms=settings["meter_late_ms"], invert=settings["invert"],
                              ct_ratio=settings["ct_ratio"] or None,
                              vt_ratio=settings["vt_ratio"] or None)  # the grid meter's wiring (0: not given)
    app.pv_reading = None
    app.pv_meter = None
    if settings["pv_meter_type"] != "none":
        app.pv_reading = Reading()
        app.pv_meter = meters.create(settings["pv_meter_type"], app.master, settings["pv_meter_address"],
                                     app.pv_reading, period_ms=period_ms,
                                     late_ms=settings["meter_late_ms"])


def _files(app, data_dir, settings):
    """The event log's path, the energy counters and the supervisor state: loaded now, saved by the service loop.

    data_dir None keeps them in RAM only (tests)."""
    persist_ms = settings["energy_persist_min"] * 60000
    gap_ms = settings["failsafe_ms"] + settings["meter_period_ms"]
    app.log_path = None
    app.lockout = None
    app.notes = []  # problems found while loading, logged with the first events
    if data_dir is None:
        app.memory_log = []
        app.energy = EnergyCounters(None, persist_ms, gap_ms)
        return
    app.log_path = data_dir + "/events.log"
    app.memory_log = None
    app.energy = EnergyCounters(ConfigStore(data_dir + "/energy.json"), persist_ms, gap_ms)
    problem = app.energy.load()
    if problem:
        app.notes.append("energy counters start at 0: " + problem)
    if app.supervisor is not None:
        from lockout_store import LockoutStore

        app.lockout = LockoutStore(app.supervisor, ConfigStore(data_dir + "/supervisor.json"))
        problem = app.lockout.load()
        if problem:
            app.notes.append("supervisor state starts fresh: " + problem)
    for note in app.notes:
        print("app: warning:", note)


def _radio_service(board, fleet, settings, app, service=None):
    """The Hoymiles links on the board's nRF24L01+ and CMT2300A, on their own timer (hm_radio); None without
    either. HM inverters go to a link on the nRF24L01+ (board key "radio"), HMS and HMT inverters to a link
    on the CMT2300A (board key "cmt", region and frequency from `cmt_region` and `cmt_frequency_mhz`); which
    one follows from each serial (hm_models). (Built here, not in hm_radio: this code is needed only at boot.)
    service: the running one (a new inverter list, relist.py): the new links use its radios (and the CMT link
    its band and airtime account) instead of setting the chips up again; the caller swaps them in.
    """
    gc.collect()  # the garbage of the parts before goes first: the radio's modules need room in one piece
    import hm_frames
    import hm_models
    from hm_family import family_of_prefix

    nrf_rows = []
    cmt_rows = []
    for row, inverter in enumerate(settings["inverters"]):
        if "sunspec_address" in inverter:
            continue
        serial = hm_frames.serial_bytes(inverter["serial"])
        radio = hm_models.radio_of(family_of_prefix(hm_frames.prefix(serial)))
        if radio == hm_models.RADIO_NONE:
            raise ValueError("inverters[%d]: serial %s is no HM, HMS or HMT inverter" % (row, inverter["serial"]))
        (nrf_rows if radio == hm_models.RADIO_NRF24 else cmt_rows).append((row, serial))
    dtu = hm_frames.serial_bytes(settings["dtu_serial"] or _dtu_serial())
    nrf = _nrf_link(board.get("radio"), fleet, settings, dtu, app.utc.s2000, nrf_rows, service and service.link)
    cmt = None
    if board.get("cmt") and cmt_rows:
        import wiring_options

        cmt = _link(wiring_options.cmt_link(board["cmt"], fleet, settings, dtu, app.utc.s2000, len(cmt_rows),
                                            service and service.second), cmt_rows)
    if nrf is None and cmt is None:
        return None
    from hm_radio import RadioService

    return RadioService(nrf, clock=app.clock_ms, second=cmt)


def _nrf_link(pins, fleet, settings, dtu, clock_s2000, rows, running=None):
    """The HM link on the nRF24L01+; on the radio of `running` (the running link), not set up again."""
    if not pins or not rows:
        return None
    import hm_link

    if running is not None:
        radio = running.radio
    else:
        import nrf24

        pin = machine.Pin
        spi = machine.SPI(pins["spi"], baudrate=8000000, sck=pin(pins["sck"]), mosi=pin(pins["mosi"]),
                          miso=pin(pins["miso"]))
        irq = None if pins.get("irq") is None else pin(pins["irq"], pin.IN)
        radio = nrf24.NRF24(spi, pin(pins["csn"], pin.OUT, value=1), pin(pins["ce"], pin.OUT, value=0), irq=irq,
                            pa_level=settings["radio_pa_level"])
    import hm_air

    link = hm_link.HoymilesLink(fleet, radio, dtu, clock_s2000, max_inverters=len(rows),
                                poll_period_ms=hm_air.nrf_poll_period_ms(len(rows)))
    return _link(link, rows)


def _link(link, rows):
    for row, serial in rows:
        link.add(row, serial)
    return link


def _sunspec_link(board, master, fleet, settings, second=None):
    """The SunSpec link for the rows with a sunspec_address, on the meter bus or the board's second bus
    (`second`: its running master, relist.py)."""
    units = [(row, inverter["sunspec_address"]) for row, inverter in enumerate(settings["inverters"])
             if "sunspec_address" in inverter]
    if not units:
        return None
    import sunspec_link

    if settings["sunspec_bus"] == "second":
        if "sunspec_bus" not in board:
            raise ValueError("sunspec_bus = 'second' but the board file has no \"sunspec_bus\" entry")
        master = second or _master(board["sunspec_bus"], settings, True)[1]
    return sunspec_link.SunSpecLink(master, fleet, units, revert_s=settings["sunspec_revert_s"])


def _dtu_serial():
    """The serial this gateway uses on the air: "1999" and eight hex digits of the chip's id."""
    uid = machine.unique_id()
    return "1999%02x%02x%02x%02x" % (uid[-4], uid[-3], uid[-2], uid[-1])
