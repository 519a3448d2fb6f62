"""The gateway application: board -> RS485 -> Modbus master -> meter -> Reading -> controller -> Fleet -> links.

    import app; app.main()     # main.py does this at boot; it returns, the loops run from timers
    app.status()               # live power, limits, meter, supervisor, network, energy, error counters
    app.log()                  # the event log (fail-safe, meter lost, excursions, trips, resets, ...)
    app.reset_supervisor()     # installer reset: ends a lockout after a trip (logged)
    app.stop()                 # stop the loops (the plant keeps its last limits); the watchdog gets an hour

main() reads the board file and the saved configuration, builds every part
once, commands the fail-safe limits before any meter reading exists, and
starts the control loop (control_loop.py). Each tick (`step`) advances the
meter's Modbus transaction by one non-blocking poll, checks the sample's
plausibility and steps the export supervisor (guard.py), runs the controller
(it holds the fail-safe limits while the reading is missing, stale, invalid
or implausible, and during a supervisor lockout) and lets each inverter link
send what the Fleet has queued. A change made with
`cfg.set("export_limit_w", ...)` (or POST /api/limit) reaches the controller
at once and acts at the next tick.

Outside the tick, a service loop on its own timer (service_loop.py) runs the
slow jobs: WiFi and NTP (netclock.py), MQTT telemetry, the DTU bridge and the
HTTP server (online.py); it drains the event ring once per pass into the
event log and MQTT; it integrates and saves the energy counters (energy.py)
and saves the supervisor's state whenever it changed (lockout_store.py).

Progress, for the watchdog: the bus finished a transaction (answered or
not) within the last `_STALL_MS`. A meter that stays silent still counts
as progress (timeouts are the state machine working); a Modbus state
machine that stopped finishing transactions does not.

A failure while starting is printed and leaves the REPL free with nothing
running. If the loop stops after repeated faults, the Fleet gets the
fail-safe limits and a small safe loop keeps only the links running so
they are delivered; see docs/FIRMWARE.md.

Timing and allocation: `step` allocates nothing (every part is built in
main(); counters are small ints); its cost is one Modbus poll plus one
controller step, well under one RS485 frame time. The service jobs allocate
and may block for bounded times (see service_loop.py).
"""

import json
import time

import cfg
import control_loop
import events
import machine
import meters
import modbus
import rs485
import supervisor
from cfgstore import ConfigStore
from compat import const, ticks_diff, ticks_ms
from controller import GRID, LOAD, NO_LIMIT, Controller
from energy import EnergyCounters
from eventlog import EventLog, describe
from fleet import Fleet
from guard import Guard
from lockout_store import LockoutStore
from netclock import NetClock
from reading import Reading
from service_loop import ServiceLoop

BOARD_PATH = "/board.json"
_STALL_MS = const(5000)  # no Modbus transaction finished for this long: no progress
_RING_SIZE = const(32)
_LIVE_KEYS = ("http_writes", "http_token")  # the HTTP server reads them at every request
_MEMORY_LOG_LINES = const(50)  # without a data directory (tests) the log lives in RAM

_app = None


def load_board(path=BOARD_PATH):
    with open(path) as file:
        return json.load(file)


def _phase_limits(value):
    return None if value == NO_LIMIT else (value, value, value)


class App:
    """Every part of the running gateway, built once from a board and the configuration.

    data_dir: where the event log, the supervisor state and the energy
    counters live ("" on the device: the root of its file system); None keeps
    them in RAM only (tests).
    """

    def __init__(self, board, settings, make_links=None, clock=ticks_ms, data_dir=None):
        self.board = board
        self.settings = settings
        self._clock = clock
        self.boot_ms = clock()
        inverters = settings["inverters"]
        self.fleet = Fleet(len(inverters))
        for index, row in enumerate(inverters):
            self.fleet.add(index, rated_w=row["rated_w"], phase=row.get("phase", 1) - 1, inputs=row.get("inputs", 1))
        self.serials = [row["serial"] for row in inverters]
        self.reading = Reading()
        limits = _phase_limits(settings["phase_export_limit_w"])
        phases = cfg.GRID_PHASES[settings["grid"]]
        self.controller = Controller(
            self.fleet,
            export_limit_w=settings["export_limit_w"],
            phase_export_limit_w=limits,
            meter_position=LOAD if settings["meter_position"] == "load" else GRID,
            failsafe_ms=settings["failsafe_ms"],
            phases=phases,
        )
        baud = settings["meter_baud"]
        self.bus = rs485.open_bus(board["meter_bus"], baud, settings["meter_parity"], settings["meter_stop_bits"])
        char_bits = 1 + 8 + (0 if settings["meter_parity"] == "N" else 1) + settings["meter_stop_bits"]
        period_ms = settings["control_period_ms"]
        # The answer is read at the tick after the request, one period later.
        self.master = modbus.Master(self.bus, baud, char_bits, timeout_ms=period_ms + 250)
        self.meter = meters.create(
            settings["meter_type"], self.master, settings["meter_address"], self.reading,
            period_ms=settings["meter_period_ms"], late_ms=settings["meter_late_ms"],
        )
        self.pv_reading = None
        self.pv_meter = None
        if settings["pv_meter_type"] != "none":
            self.pv_reading = Reading()
            self.pv_meter = meters.create(
                settings["pv_meter_type"], self.master, settings["pv_meter_address"], self.pv_reading,
                period_ms=settings["meter_period_ms"], late_ms=settings["meter_late_ms"],
            )
        self.ring = events.EventRing(_RING_SIZE)
        self.supervisor = None
        if settings["meter_position"] == "grid":  # only a grid-side meter measures export
            self.supervisor = supervisor.Supervisor(
                self.ring, settings["export_limit_w"], limits, stage2_s=settings["excursion_stage2_s"],
                trip_s=settings["excursion_trip_s"], stage2_max=settings["stage2_events_max"],
                window_s=settings["stage2_window_min"] * 60, lockout_s=settings["lockout_h"] * 3600,
                stale_ms=settings["failsafe_ms"], phases=phases,
            )
        self.guard = Guard(
            self.reading, settings["meter_type"], self.ring, self.supervisor, settings["failsafe_ms"],
            phases=phases, nominal_voltage_v=settings["nominal_voltage_v"],
        )
        self._files(data_dir, settings)
        # Inverter links stepped by the control loop (objects with step(now_ms)), and the
        # Hoymiles radio link, which has its own fast timer (hm_radio.RadioService).
        links = [] if make_links is None else list(make_links(self.fleet, settings))
        self.sunspec = _sunspec_link(board, self.master, self.fleet, settings)
        if self.sunspec is not None:
            links.append(self.sunspec)
        self.links = tuple(links)
        self.radio = None
        if settings["dtu_type"] == "none":  # a DTU bridge is the link for every Hoymiles inverter
            self.radio = _radio_service(board, self.fleet, settings, clock)
        self.net = NetClock(settings["wifi_ssid"], settings["wifi_password"], settings["ntp_server"])
        self.online = self._online(settings)
        self.meter_status = meters.IDLE
        self._done = 0  # Modbus transactions finished (any outcome)
        self._done_ms = clock()
        self.loop = control_loop.ControlLoop(
            self.step, period_ms, settings["watchdog_ms"], on_stop=self._stopped_by_faults, clock=clock
        )
        self.safe_loop = None
        self.service = ServiceLoop((self._network, self._drain_events, self._persist), clock=clock)
        self._tee = events.EventRing(_RING_SIZE)  # the drained events, on their way into the log

    def _online(self, settings):
        """MQTT and HTTP (online.py), or None when neither is configured (their modules are not even loaded)."""
        if not settings["mqtt_server"] and not settings["http_enabled"]:
            return None
        from online import Online
        from plant_status import PlantStatus

        status = PlantStatus(self.reading, self.fleet, self.controller, self.meter, self.energy, self.pv_reading)
        return Online(settings, status, self.fleet, self.set_export_limit, settings.get)

    def _files(self, data_dir, settings):
        """The event log, the energy counters and the supervisor state: loaded now, saved by the service loop."""
        self.data_dir = data_dir
        persist_ms = settings["energy_persist_min"] * 60000
        gap_ms = settings["failsafe_ms"] + settings["meter_period_ms"]
        self.notes = []  # problems found while loading, logged with the first events
        if data_dir is None:
            self.eventlog = None
            self.memory_log = []
            self.energy = EnergyCounters(None, persist_ms, gap_ms)
            self.lockout = None
            return
        self.eventlog = EventLog(data_dir + "/events.log")
        self.memory_log = None
        self.energy = EnergyCounters(ConfigStore(data_dir + "/energy.json"), persist_ms, gap_ms)
        problem = self.energy.load()
        if problem:
            self.notes.append("energy counters start at 0: " + problem)
        self.lockout = None
        if self.supervisor is not None:
            self.lockout = LockoutStore(self.supervisor, ConfigStore(data_dir + "/supervisor.json"))
            problem = self.lockout.load()
            if problem:
                self.notes.append("supervisor state starts fresh: " + problem)
        for note in self.notes:
            print("app: warning:", note)

    # The tick is split into small methods: MicroPython keeps a frame on the C
    # stack only while its locals and value stack fit 11 words, else every call
    # allocates it on the heap.

    def step(self, now_ms):
        """One tick: returns True when the bus made progress (the watchdog is fed only then)."""
        self._poll_meter(now_ms)
        guard = self.guard
        self.controller.step(now_ms, guard.control_input(now_ms))
        guard.after_control(self.controller.mode, now_ms)
        self._run_links(now_ms)
        return self._progress(now_ms)

    def _poll_meter(self, now_ms):
        status = self.guard.meter_step(self.meter, now_ms)
        if status != meters.IDLE and status != meters.BUSY and status != meters.WAIT_BUS:
            self.meter_status = status
        if self.pv_meter is not None:
            self.pv_meter.step(now_ms)

    def _run_links(self, now_ms):
        links = self.links
        for index in range(len(links)):
            links[index].step(now_ms)

    def _progress(self, now_ms):
        master = self.master
        done = master.ok + master.timeout + master.crc + master.exception
        if done != self._done:
            self._done = done
            self._done_ms = now_ms
            return True
        return ticks_diff(now_ms, self._done_ms) < _STALL_MS

    # --- the service loop's jobs (outside the tick) -----------------------------------------

    def _network(self, now_ms):
        self.net.poll(now_ms)
        if self.online is not None:
            self.online.poll(now_ms, self.net.up)

    def _drain_events(self, now_ms):
        """Take every event out of the ring once, and give each to the event log and to telemetry."""
        ring, tee, online = self.ring, self._tee, self.online
        while ring.pop():
            tee.push(ring.last_kind, ring.last_t_ms, ring.last_a, ring.last_b)
            if online is not None:
                online.publish_event(ring.last_kind, ring.last_t_ms, ring.last_a, ring.last_b)
        tee.lost += ring.lost
        ring.lost = 0
        if not tee.count and not tee.lost and not self.notes:
            return
        wall_s = int(time.time())
        if self.eventlog is not None:
            if self.notes:
                self.eventlog.append(["app: " + note for note in self.notes])
                del self.notes[:]
            self.eventlog.drain(tee, now_ms, wall_s, self.boot_ms)
            return
        while tee.pop():
            self.memory_log.append("+%ds %s" % (ticks_diff(tee.last_t_ms, self.boot_ms) // 1000,
                                                describe(tee.last_kind, tee.last_a, tee.last_b)))
        if tee.lost:
            self.memory_log.append("%d events lost (ring full)" % tee.lost)
            tee.lost = 0
        del self.memory_log[:-_MEMORY_LOG_LINES]

    def _persist(self, now_ms):
        self.energy.update(now_ms, self.reading, self.pv_dw())
        self.energy.save_if_due(now_ms)
        if self.lockout is not None:
            self.lockout.save_if_changed()

    def pv_dw(self):
        """PV power now: the PV meter's when there is one (None while invalid), else the inverters' reports."""
        if self.pv_reading is not None:
            return abs(self.pv_reading.power_dw) if self.pv_reading.valid else None
        fleet = self.fleet
        return sum(fleet.output_dw[index] for index in range(fleet.count) if fleet.output_seq[index])

    # --- control ----------------------------------------------------------------------------

    def start(self):
        # Fail-safe limits go out before the first meter reading exists.
        now_ms = self._clock()
        self.ring.push(events.BOOT, now_ms)
        self.controller.step(now_ms, self.guard.control_input(now_ms))
        self.loop.start()
        if self.radio is not None:
            self.radio.start()
        self.service.start()

    def set_export_limit(self, watts):
        """A new export limit from the network: the same path as cfg.set (checked, logged, next tick)."""
        cfg.set("export_limit_w", watts)

    def apply(self, key, value):
        """cfg listener: logged; the export limits act at the next tick, the HTTP write settings at the next
        request, other keys after a restart."""
        self.ring.push(events.CONFIG_CHANGED, self._clock(), cfg.KEYS.index(key), value if type(value) is int else 0)
        if key in ("export_limit_w", "phase_export_limit_w"):
            values = cfg.values()
            limits = _phase_limits(values["phase_export_limit_w"])
            self.controller.set_export_limit(values["export_limit_w"], limits)
            self.guard.set_limit(values["export_limit_w"], limits)
        elif key not in _LIVE_KEYS:
            print("cfg: %s takes effect after cfg.save() and a reset" % key)

    def reset_supervisor(self):
        """Installer reset: end a lockout and forget recent stage-2 events (logged, saved)."""
        if self.supervisor is None:
            print("app: no supervisor (the meter is on the load side)")
            return
        self.guard.reset(self._clock())
        print("app: supervisor reset; the controller regulates again at the next valid sample")

    def _stopped_by_faults(self):
        """The loop gave up: command the fail-safe limits and keep only the links running."""
        now_ms = self._clock()
        self.reading.valid = False
        for index in range(self.fleet.count):
            self.fleet.command(index, self.controller.failsafe_dw[index], now_ms)
        print("app: control loop stopped after repeated faults; fail-safe limits commanded")
        self.safe_loop = control_loop.ControlLoop(
            self._safe_step, self.loop.period_ms, control_loop.MAINTENANCE_WDT_MS, timer_id=self.loop.timer_id,
            clock=self._clock,
        )
        self.safe_loop.start()

    def _safe_step(self, now_ms):
        self._run_links(now_ms)
        return True

    def stop(self):
        """Stop every loop; a clean stop saves the energy counters and the supervisor state."""
        self.loop.stop()
        if self.safe_loop is not None:
            self.safe_loop.stop()
        if self.radio is not None:
            self.radio.stop()
        self.service.stop()
        now_ms = self._clock()
        self._drain_events(now_ms)
        if self.online is not None:
            self.online.close()
        self.energy.update(now_ms, self.reading, self.pv_dw())
        self.energy.save()
        if self.lockout is not None:
            self.lockout.save_if_changed()

    def log(self):
        """Print the event log, oldest first."""
        self._drain_events(self._clock())
        lines = self.eventlog.lines() if self.eventlog is not None else self.memory_log
        for line in lines:
            print(line)
        if not lines:
            print("(no events logged)")

    def status(self):
        """Print the live state (report.py: loaded only when asked, to spare the RAM)."""
        import report

        report.status(self, self._clock())


def main(board_path=BOARD_PATH, config_path=cfg.PATH, make_links=None, clock=ticks_ms):
    """Start the gateway and return; the loops run from timers and the REPL stays free.

    `make_links(fleet, settings)` builds the inverter links (default: what the
    board carries); `clock` is ticks_ms, or simulated time on the host board.
    The event log, energy counters and supervisor state live next to the
    configuration file (/events.log, /energy.json, /supervisor.json).
    """
    global _app
    if _app is not None:
        _app.stop()
    cfg.load(config_path)
    board = load_board(board_path)
    data_dir = config_path[: config_path.rfind("/")] if "/" in config_path else "."
    app = App(board, cfg.values(), make_links or _board_links, clock, data_dir)
    cfg.forget_listeners()
    cfg.on_change(app.apply)
    _app = app
    app.start()
    print("app: running on %s; status() shows the state, import cfg to configure" % board.get("name", "?"))
    return app


def _board_links(fleet, settings):
    """Links the control loop steps on a device board: none (the radio link runs on its own timer)."""
    return []


def _radio_service(board, fleet, settings, clock):
    """The Hoymiles link on the board's nRF24L01+, on its own timer; None without radio or inverters."""
    pins = board.get("radio")
    if not pins or not fleet.count:
        return None
    import hm_frames
    import hm_link
    import hm_radio
    import nrf24

    pin = machine.Pin
    spi = machine.SPI(pins["spi"], baudrate=8000000, sck=pin(pins["sck"]), mosi=pin(pins["mosi"]),
                      miso=pin(pins["miso"]))
    irq = None if pins.get("irq") is None else pin(pins["irq"], pin.IN)
    radio = nrf24.NRF24(spi, pin(pins["csn"], pin.OUT, value=1), pin(pins["ce"], pin.OUT, value=0), irq=irq,
                        pa_level=settings["radio_pa_level"])
    link = hm_link.HoymilesLink(fleet, radio, hm_frames.serial_bytes(settings["dtu_serial"] or _dtu_serial()),
                                utc_s2000, max_inverters=fleet.count)
    for row, inverter in enumerate(settings["inverters"]):
        if "sunspec_address" not in inverter:
            link.add(row, hm_frames.serial_bytes(inverter["serial"]))
    return hm_radio.RadioService(link, clock=clock)


def _sunspec_link(board, master, fleet, settings):
    """The SunSpec link for the rows with a sunspec_address, on the meter bus or the board's second bus."""
    units = [(row, inverter["sunspec_address"]) for row, inverter in enumerate(settings["inverters"])
             if "sunspec_address" in inverter]
    if not units:
        return None
    import sunspec_link

    if settings["sunspec_bus"] == "second":
        if "sunspec_bus" not in board:
            raise ValueError("sunspec_bus = 'second' but the board file has no \"sunspec_bus\" entry")
        baud, parity, stop_bits = settings["meter_baud"], settings["meter_parity"], settings["meter_stop_bits"]
        bus = rs485.open_bus(board["sunspec_bus"], baud, parity, stop_bits)
        char_bits = 1 + 8 + (0 if parity == "N" else 1) + stop_bits
        master = modbus.Master(bus, baud, char_bits, timeout_ms=settings["control_period_ms"] + 250)
    return sunspec_link.SunSpecLink(master, fleet, units, revert_s=settings["sunspec_revert_s"])


def _dtu_serial():
    """The serial this gateway uses on the air: "1999" and eight hex digits of the chip's id."""
    uid = machine.unique_id()
    return "1999%02x%02x%02x%02x" % (uid[-4], uid[-3], uid[-2], uid[-1])


_S_1970_TO_2000 = const(946684800)
_S2000_KNOWN = const(757382400)  # 2024-01-01: an RTC before that was never set
_EPOCH_1970 = time.gmtime(0)[0] == 1970


def utc_s2000():
    """UTC seconds since 2000-01-01, or -1 while the clock was never set (the radio link's clock).

    NTP sets the RTC once WiFi is up (netclock.py); until then this is -1 on a
    device and the link sends limits but no time-stamped data requests. On a port
    whose epoch is 1970, time.time() is a long int on the ESP32: one small
    allocation per time-stamped request.
    """
    now = int(time.time())
    if _EPOCH_1970:
        now -= _S_1970_TO_2000
    return now if now >= _S2000_KNOWN else -1


def status():
    if _app is None:
        print("app: not running (main.py did not start it, or it failed; see the boot messages)")
        return
    _app.status()


def log():
    """Print the event log (fail-safe, meter lost/back, implausible data, excursions, trips, resets, changes)."""
    if _app is None:
        print("app: not running")
        return
    _app.log()


def reset_supervisor():
    """Installer reset after a trip: ends the lockout, forgets recent stage-2 events; logged as RESET."""
    if _app is None:
        print("app: not running")
        return
    _app.reset_supervisor()


def stop():
    if _app is not None:
        _app.stop()
        print("app: stopped; the plant keeps its last limits; the watchdog resets the device in an hour")
