"""A new inverter list without a reset: a new Fleet, Controller and links, swapped in between two ticks.

    relist.swap(app, settings, now_ms)        # posted by changes.py: runs between two ticks, never inside one
    relist.startup_limit(app, pct, now_ms)    # startup_limit_pct changed (posted too)

The Fleet, the controller's tables and the links are sized by the number of
inverters, so a new list gets new ones (wiring.py, the same code as at
boot), built and swapped in by one scheduled callback: no tick, radio step
or service pass runs in between, and none sees a half-built table. If a
part cannot be built (a row the radio cannot serve, no second bus on the
board, the heap short) nothing changed and the old list runs on. The new
controller then takes one step on a reading that is never valid: every
inverter, old or new, is sent its fail-safe limit first, as at boot, and
regulation starts from there at the next tick. What was learned about the
inverters' response starts afresh. The supervisor learns how many
inverters there are (none: no trip; the first ones added get a whole
`excursion_trip_s` to act). The links follow the settings as they are now.

Per link kind:
- Hoymiles on the gateway's radios: the radios are kept (wiring._radio_service
  with the running service), and a CMT2300A link keeps its airtime account.
- SunSpec (`sunspec_address` rows): a new link on the same Modbus master. A
  transaction of the old link still on the bus is ended as unanswered, the
  master's own rule for a request nobody collects (lib/meter/modbus.py): the
  bus then stays quiet until the inverter's `late_ms` after that request and
  what arrives meanwhile is drained, so a late answer is never taken for
  another request's; the old link no longer holds the bus's turn. Ending it
  rather than waiting for it keeps the swap one callback (no old link that
  must step on, no swap that waits and may never find the bus idle). A meter
  bus whose master only reads (no SunSpec row at boot) gets a writing one
  (modbus_write.WriteMaster) that takes over the old one's whole state: its
  counters (the watchdog's progress), buffers, quiet time, memory of recent
  requests and a meter read in flight, which then completes on it; the
  meters and the App hold it from the swap on. `sunspec_bus = "second"`
  reuses the running second bus, else opens it. A removed inverter is no
  longer written: its own revert timer ends the last limit (docs/SUNSPEC.md).
- DTU bridge (`dtu_type`): a new bridge on the same MQTT session (relist_dtu.py,
  loaded only where a session runs).
- Links of a host or test (App.make_links): made again for the new Fleet.

`startup_limit_pct` is here too, as it concerns the same links: one
persistent limit per Hoymiles inverter on the gateway's radios, its
percentage of the row's `rated_w` (at least the inverter's minimum), through
`configure_persistent_limit`, which refuses a second write to an inverter
within a day (hm_link.PERSIST_MIN_INTERVAL_MS, kept in RAM: only a change
of the setting sends one, never a boot).

Runs outside the tick (a scheduled callback); allocates freely; loaded only
for a change and dropped after (changes.py), so it takes no RAM meanwhile.
"""

import sys

import modbus


def swap(app, settings, now_ms):
    """The new list in force, or a message why not (then the old one runs on)."""
    try:
        _swap(app, settings, now_ms)
    except (ValueError, OSError, MemoryError) as error:  # the builders load modules: the heap may be short
        print("app: the new inverter list is not in force, the old one runs on: %r" % error)
    finally:
        sys.modules.pop("relist_dtu", None)


def _swap(app, settings, now_ms):
    """Build the new parts (this may raise: then nothing changed), then swap them in."""
    import wiring

    online = app.online
    session = getattr(online, "session", None)
    try:
        serials = [row["serial"] for row in settings["inverters"]]
        fleet, controller = wiring.inverters(settings, app.phases)
        links = [] if app.make_links is None else list(app.make_links(fleet, settings))
        radio = None
        if settings["dtu_type"] == "none" and (app.radio is not None or app.board.get("radio")
                                               or app.board.get("cmt")):
            radio = wiring._radio_service(app.board, fleet, settings, app, app.radio)
        master = app.master
        old = app.sunspec
        if type(master) is modbus.Master and settings["sunspec_bus"] != "second" and any(
                "sunspec_address" in row for row in settings["inverters"]):
            master = _writing(master, app.bus)
        second = None if old is None or old.master is app.master else old.master
        sunspec = wiring._sunspec_link(app.board, master, fleet, settings, second)
        if sunspec is not None:
            links.append(sunspec)
        links = tuple(links)
        if session is not None:  # last: the new bridge takes the session's callback as it is built
            import relist_dtu

            bridge = relist_dtu.bridge(session, fleet, settings)
    finally:
        wiring.drop_builders()
    # The swap: from here nothing raises.
    _release(old, now_ms)
    if master is not app.master:
        _rewire(app, master)
    app.fleet, app.serials, app.controller, app.links, app.sunspec = fleet, serials, controller, links, sunspec
    app.guard.controller = controller
    supervisor = app.supervisor
    if supervisor is not None:
        if not supervisor.inverters and fleet.count:
            supervisor.restart_excursion()  # the first inverters get the whole trip time to act
        supervisor.inverters = fleet.count
    _swap_radio(app, radio)
    status = getattr(online, "status", None)
    if status is not None:  # the page's and telemetry's view
        status.fleet, status.controller, status.radio = fleet, controller, app.radio
    if session is not None:
        relist_dtu.swap(online, bridge)
    controller.step(now_ms, app.guard.blind)  # fail-safe limits first, as at boot
    if session is not None:
        relist_dtu.announce(online)


def _writing(old, stream):
    """A writing master that carries on from the read-only `old` (built before the swap: nothing runs between).

    It takes every attribute of `old`: counters, receive buffer (the meter drivers hold it), quiet time,
    the memory of recent requests, a read in flight; its request buffer, larger, gets the read request."""
    import modbus_write

    new = modbus_write.WriteMaster(stream)
    tx = new.tx
    for name, value in old.__dict__.items():
        setattr(new, name, value)
    length = len(old.tx)
    tx[:length] = old.tx  # a retry of the read in flight sends it again from here
    new.tx = tx
    new._tx_read = new._tx_view = memoryview(tx)[:length]
    return new


def _rewire(app, master):
    """Everyone who held the meter bus's old master holds `master` from now on."""
    old = app.master
    app.master = master
    for driver in (app.meter, app.pv_meter):
        if driver is not None and driver.master is old:
            driver.master = master


def _release(link, now_ms):
    """The old SunSpec link lets go of its bus: its transaction, if one runs, ends as unanswered (the master
    keeps the bus quiet until the inverter's late answer would be in, and drains it), and its turn is given up."""
    if link is None:
        return
    master = link.master
    if link._job:
        master._unanswered = True
        master._end(modbus.TIMEOUT, now_ms)
    if master.waiter == link._token:
        master.waiter = 0


def _swap_radio(app, radio):
    old = app.radio
    if old is None:
        app.radio = radio
        if radio is not None:
            radio.start()
    elif radio is None:
        old.link = old.second = None  # no Hoymiles inverter left on the radios: the timer idles
    else:
        old.link, old.second = radio.link, radio.second


def startup_limit(app, pct, now_ms):
    """Queue the startup (persistent) limit on every Hoymiles link; 0 writes none. Says what it did."""
    radio = app.radio
    if not pct:
        return
    fleet = app.fleet
    queued = skipped = 0
    for link in () if radio is None else (radio.link, radio.second):
        for slot in range(0 if link is None else link.count):
            row = link.row[slot]
            limit_dw = max(fleet.rated_dw[row] * pct // 100, fleet.min_dw[row])
            if link.configure_persistent_limit(row, limit_dw, now_ms) == 0:
                queued += 1
            else:
                skipped += 1
    print("app: startup limit %d %%: queued for %d inverter(s), %d skipped (written less than a day ago)" % (
        pct, queued, skipped))
