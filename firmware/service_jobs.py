"""The service loop's jobs (service_loop.py runs them, outside the control tick), and the allocation-free UTC clock.

    jobs = Jobs(app)
    ServiceLoop((jobs.network, jobs.drain_events, jobs.persist))
    jobs.log_lines()          # app.log(): the event log, oldest first
    jobs.close(now_ms)        # app.stop(): a clean stop saves what must survive

- network: the UTC clock once a minute, WiFi and NTP (netclock.py), then MQTT,
  the DTU bridge and HTTP (online.py).
- drain_events: takes every event out of the App's ring once and gives each to
  the event log (flash, or a short list in RAM without a data directory) and
  to telemetry. Events are rare: lib/status/eventlog.py is imported for each
  write and dropped after, so its bytecode is not kept in RAM.
- persist: integrates the energy counters (energy.py) and saves them when due;
  saves the supervisor's state whenever it changed (lockout_store.py).

Timing and allocation: they allocate (log lines, JSON, MQTT packets) and may
block for bounded times (a flash write: milliseconds; see service_loop.py).
"""

import sys
import time

from compat import const, ticks_diff
from events import EventRing

_MEMORY_LOG_LINES = const(50)  # without a data directory (tests) the log lives in RAM
_TEE_SIZE = const(8)
_S_1970_TO_2000 = const(946684800)
_S2000_KNOWN = const(757382400)  # 2024-01-01: an RTC before that was never set
_UTC_REFRESH_MS = const(60000)
_EPOCH_1970 = time.gmtime(0)[0] == 1970


class UtcClock:
    """UTC seconds since 2000-01-01 for the radio link's time stamps, without allocating.

    time.time() counts from 1970 on current ports, past 2**30: a heap-allocated
    long int on the ESP32 at every call, and the radio link asks hundreds of
    times a second. `poll` (service loop) reads the RTC once a minute; `s2000`
    adds the ticks since then. -1 while the clock was never set (NTP sets it
    once WiFi is up, netclock.py)."""

    def __init__(self, clock_ms):
        self._clock_ms = clock_ms
        self._base_s = -1
        self._base_ms = 0

    def poll(self, now_ms):
        if ticks_diff(now_ms, self._base_ms) >= _UTC_REFRESH_MS:
            self.refresh(now_ms)

    def refresh(self, now_ms):
        now_s = int(time.time()) - (_S_1970_TO_2000 if _EPOCH_1970 else 0)
        self._base_s = now_s if now_s >= _S2000_KNOWN else -1
        self._base_ms = now_ms

    def s2000(self):
        if self._base_s < 0:
            return -1
        return self._base_s + ticks_diff(self._clock_ms(), self._base_ms) // 1000


class Jobs:
    def __init__(self, app):
        self.app = app
        self._tee = EventRing(_TEE_SIZE)  # drained events on their way into the log

    def network(self, now_ms):
        app = self.app
        app.utc.poll(now_ms)
        net = app.net
        if net is not None:
            net.poll(now_ms)
        if app.online is not None:
            app.online.poll(now_ms, net is None or net.up)

    def drain_events(self, now_ms):
        ring, tee, online = self.app.ring, self._tee, self.app.online
        while ring.pop():
            if tee.count == tee.size:
                self._write_log(now_ms)
            tee.push(ring.last_kind, ring.last_t_ms, ring.last_a, ring.last_b)
            if online is not None:
                online.publish_event(ring.last_kind, ring.last_t_ms, ring.last_a, ring.last_b)
        tee.lost += ring.lost
        ring.lost = 0
        if tee.count or tee.lost or self.app.notes:
            self._write_log(now_ms)

    def _write_log(self, now_ms):
        import eventlog

        try:
            self._write_with(eventlog, now_ms)
        finally:
            sys.modules.pop("eventlog", None)

    def _write_with(self, eventlog, now_ms):
        app, tee = self.app, self._tee
        notes = None if app.changes is None else app.changes.notes  # the words of configuration changes
        if app.log_path is not None:
            log = eventlog.EventLog(app.log_path)
            if app.notes:
                log.append(["app: " + note for note in app.notes])
                del app.notes[:]
            log.drain(tee, now_ms, int(time.time()), app.boot_ms, notes)
            return
        log = app.memory_log
        log.extend(eventlog.take_lines(tee, now_ms, None, app.boot_ms, notes))
        del log[:-_MEMORY_LOG_LINES]

    def persist(self, now_ms):
        app = self.app
        app.energy.update(now_ms, app.reading, self.pv_dw(), not app.guard.implausible)
        app.energy.save_if_due(now_ms)
        if app.lockout is not None:
            app.lockout.save_if_changed()

    def close(self, now_ms):
        """A clean stop: the last events, "offline" to the broker, the counters and the supervisor state saved."""
        app = self.app
        self.drain_events(now_ms)
        if app.online is not None:
            app.online.close()
        app.energy.update(now_ms, app.reading, self.pv_dw(), not app.guard.implausible)
        app.energy.save()
        if app.lockout is not None:
            app.lockout.save_if_changed()

    def pv_dw(self):
        """PV power now: the PV meter's when there is one (None while invalid), else the inverters' reports."""
        app = self.app
        if app.pv_reading is not None:
            return abs(app.pv_reading.power_dw) if app.pv_reading.valid else None
        fleet = app.fleet
        return sum(fleet.output_dw[index] for index in range(fleet.count) if fleet.output_seq[index])

    def log_lines(self):
        app = self.app
        self.drain_events(app.clock_ms())
        if app.log_path is None:
            return app.memory_log
        import eventlog

        try:
            return eventlog.EventLog(app.log_path).lines()
        finally:
            sys.modules.pop("eventlog", None)
