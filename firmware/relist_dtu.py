"""A new inverter list on a running MQTT session (relist.py): the DTU bridge for the new Fleet, telemetry's view.

    new = relist_dtu.bridge(session, fleet, settings)    # built with the other new parts; None without a DTU
    relist_dtu.swap(online, new)                         # in the swap, after the status view has the new Fleet
    relist_dtu.announce(online)                          # after it: the new list's sensors to Home Assistant

The new DtuBridge (wiring_options._bridge, as at boot) takes the client's
message callback as it is built, so the old bridge hears nothing more; in
the swap its connect hook replaces the old one's, first in the list as at
boot (subscriptions go out before telemetry announces itself), so every
reconnect subscribes the new topics. On a running connection they are
subscribed at the next service pass whose send buffer is free (a message
streaming out cannot be interrupted; `_Subscribing` stands in for the
bridge until then), before the bridge sends its first limit. The old topics
stay subscribed until the next connect (a clean session drops them): the
client has no UNSUBSCRIBE, and their messages are harmless, the callback
compares each topic with the new bridge's only. The old Fleet, with any
command the old bridge had sent, goes with the old bridge: no one polls
it, so nothing of it times out or counts. Telemetry reports the new bridge's
counters and announces the sensors of the new list to Home Assistant
again (removed inverters' sensors stay until removed there).

Runs in the swap's scheduled callback, between two service passes; allocates;
loaded for the change and dropped after.
"""

from mqtt import MQTTException


def bridge(session, fleet, settings):
    """The DTU bridge for `fleet`, or None (no DTU, or no inverter); ValueError for a row it cannot serve."""
    import wiring_options

    return wiring_options._bridge(session, fleet, settings)


def swap(online, new):
    """`new` in place of the running bridge (None: no bridge from now on)."""
    session = online.session
    hooks = session.hooks
    old = online.bridge
    if isinstance(old, _Subscribing):  # the list before was not subscribed yet
        old = old.bridge
    if old is not None:
        hooks.remove(old._subscribe)
    if new is None:
        session.client.set_callback(None)
    else:
        hooks.insert(0, hooks.pop())  # its hook, added last as it was built
    online.bridge = online.telemetry.bridge = new
    if new is not None and session.connected:
        online.bridge = _Subscribing(online, new)


def announce(online):
    """Telemetry announces the sensors of the new list, as at a connect (a heap too short for the list of
    sensors leaves that to the next connect: the new list is in force already)."""
    if online.session.connected:
        try:
            online.telemetry.announce()
        except MemoryError:
            print("mqtt: the new inverters' sensors are announced to Home Assistant at the next connect")


class _Subscribing:
    """The new bridge in online.bridge until its topics are subscribed on the running connection."""

    def __init__(self, online, bridge):
        self.online = online
        self.bridge = bridge

    def __getattr__(self, name):  # the bridge's counters, for online.describe()
        return getattr(self.bridge, name)

    def poll(self, now_ms):
        bridge = self.bridge
        session = bridge.session
        if not (session.connected and session.client.busy):
            self.online.bridge = bridge
            if session.connected:
                try:
                    bridge._subscribe()
                except (OSError, MQTTException) as error:  # the connection is gone: the hook subscribes again
                    session._drop(error)
        bridge.poll(now_ms)
