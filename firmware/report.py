"""app.status(): the gateway's state for people at the REPL.

Loaded only while status() prints (App drops it after), so its code and
strings take no RAM on a gateway nobody asks; it only reads the running
App's parts. The first line says what the gateway does and why: regulating,
fail-safe with its reason, a lockout with its reason, time left and the
command that ends it, commissioning with its time left. The names of states
are the one table of each: the mode and
command names of lib/status/status_names.py (also on the page and in MQTT),
the trip names of lib/status/eventlog.py (loaded only for a lockout), the
fail-safe reasons of lib/control/guard.py. What it imports is small: it has
to fit a heap with little room left, in pieces.
"""

from compat import ticks_diff
from guard import FAILSAFE_REASONS
from status_names import CMD_NAMES, MODE_NAMES, eventlog_name
from step_names import STATUS_NAMES


def status(app, now_ms):
    """What app.status() prints; see docs/FIRMWARE.md for the fields."""
    reading, controller, fleet, meter, loop = app.reading, app.controller, app.fleet, app.meter, app.loop
    print(mode_text(app))
    state = "running" if loop.running else ("SAFE MODE" if app.safe_loop else "STOPPED")
    print("loop: %s, %d ticks, last %d us, max %d us, overruns %d, faults %d" % (
        state, loop.ticks, loop.tick_us, loop.max_tick_us, loop.overruns, loop.faults))
    age = ticks_diff(now_ms, reading.t_ms) if reading.seq else -1
    print("meter %s @%d: %s, power %s W (L1 %s, L2 %s, L3 %s), age %d ms, samples %d" % (
        meter.name, meter.address, "valid" if reading.valid else "NO VALID READING",
        _w(reading.power_dw), _w(reading.phase_power_dw[0]), _w(reading.phase_power_dw[1]),
        _w(reading.phase_power_dw[2]), age, reading.seq))
    print("  last status: %s; ok %d, timeout %d, crc %d, exception %d, invalid %d" % (
        STATUS_NAMES.get(app.meter_status, app.meter_status), meter.ok, meter.timeout, meter.crc,
        meter.exception, meter.invalid))
    _safety(app)
    if app.pv_meter is not None:
        pv = app.pv_reading
        print("pv meter %s @%d: %s, power %s W" % (app.pv_meter.name, app.pv_meter.address,
                                                 "valid" if pv.valid else "NO VALID READING", _w(pv.power_dw)))
    print("bus: frames %d, drained %d bytes, tx timeouts %d" % (
        app.bus.frames, app.master.drained, app.bus.tx_timeouts))
    if app.radio is not None:
        print("radio: " + radio_text(app.radio, now_ms))
    limit = controller.export_limit_dw
    print("control: %s; export limit %s W; PV %s W, load %s W, allowed %s W, limits total %s W, commands %d"
          % (_name(MODE_NAMES, controller.mode), "none" if limit < 0 else _w(limit),
             _w(controller.pv_dw), _w(controller.load_dw), _w(controller.allowed_dw), _w(controller.limit_dw),
             controller.commands))
    for index in range(fleet.count):
        seen = ticks_diff(now_ms, fleet.output_t_ms[index]) // 1000 if fleet.output_seq[index] else -1
        print("inverter %d %s L%d: limit %s W (%s), output %s W (%d s ago), rated %s W" % (
            index, app.serials[index], fleet.phase[index] + 1, _w(fleet.target_dw[index]),
            _name(CMD_NAMES, fleet.cmd_state[index]), _w(fleet.output_dw[index]), seen,
            _w(fleet.rated_dw[index])))
    energy = app.energy
    print("energy: import %d Wh, export %d Wh, PV %d Wh (saved %d times)" % (
        energy.import_wh, energy.export_wh, energy.pv_wh, energy.saves))
    print("service: %s, %d passes, faults %d; %s" % (
        "running" if app.service.running else "STOPPED", app.service.ticks, app.service.faults,
        "no WiFi configured" if app.net is None else app.net.describe()))
    if app.online is not None:
        for line in app.online.describe():
            print(line)


def radio_text(service, now_ms):
    """The radio timer (hm_radio.RadioService), and the CMT link's airtime in the last hour against its budget."""
    text = "%s, %d steps, overruns %d" % ("running" if service.running else "STOPPED", service.ticks,
                                          service.overruns)
    for link in (service.link, service.second):
        band = None if link is None else link.band
        if band is not None:
            used_ms = link.airtime.used_ms(now_ms)
            budget = "%d s" % (band.budget_ms // 1000) if band.budget_ms else "no limit"
            text += "; CMT2300A %s %d MHz, airtime %d.%d s in the last hour (budget %s), foreign %d" % (
                band.region, band.frequency_mhz, used_ms // 1000, used_ms % 1000 // 100, budget, link.foreign)
    return text


def mode_text(app):
    """The first line: what the gateway does and why; with a lockout its reason, time left and the cure."""
    guard, sup = app.guard, app.supervisor
    reason = guard.failsafe_reason
    text = "REGULATING" if not reason else "FAIL-SAFE (%s)" % _name(FAILSAFE_REASONS, reason)
    if sup is not None and sup.tripped:
        text = "LOCKOUT (%s), %s left; app.reset_supervisor() ends it" % (
            eventlog_name("TRIP_NAMES", sup.trip_reason), _duration(sup.lockout_left_s))
    if sup is not None and sup.commission_left_s:
        text += "; COMMISSIONING, %s left: excursions do not trip (app.commission(0) ends it)" % _duration(
            sup.commission_left_s)
    if sup is not None and not sup.inverters:
        text += "; no inverters configured: excursions do not trip"
    return "mode: " + text


def _safety(app):
    guard = app.guard
    print("  plausibility: %s, checks %d, episodes %d, max current %d A; meter losses %d" % (
        "IMPLAUSIBLE" if guard.implausible else "ok", guard.checks, guard.implausible_episodes,
        guard.plausibility.max_current_ma // 1000, guard.meter_losses))
    sup = app.supervisor
    if sup is None:
        print("supervisor: off (meter on the load side)")
        return
    lockout = ("LOCKOUT %d s left (%s); app.reset_supervisor() ends it" % (
        sup.lockout_left_s, eventlog_name("TRIP_NAMES", sup.trip_reason))
        if sup.tripped else "no lockout")
    if sup.commission_left_s:
        lockout += ", commissioning %d s left" % sup.commission_left_s
    print("supervisor: %s; excursions %d (now: %s), stage-2 total %d, trips %d, clock %d s" % (
        lockout, sup.excursions, "yes" if sup.in_excursion else "no", sup.stage2_total, sup.trips, sup.clock_s))


def _duration(seconds):
    """4 h 12 min, 29 min 5 s, 40 s."""
    if seconds >= 3600:
        return "%d h %d min" % (seconds // 3600, seconds % 3600 // 60)
    if seconds >= 60:
        return "%d min %d s" % (seconds // 60, seconds % 60)
    return "%d s" % seconds


def _name(names, index):
    return names[index] if 0 <= index < len(names) else "unknown (%d)" % index


def _w(power_dw):
    """Deci-watts as watts with one decimal, for people."""
    sign = "-" if power_dw < 0 else ""
    power_dw = abs(power_dw)
    return "%s%d.%d" % (sign, power_dw // 10, power_dw % 10)
