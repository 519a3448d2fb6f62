"""The supervisor's state (stage-2 history, trips, lockout) on flash, saved whenever it changed.

    store = LockoutStore(supervisor, ConfigStore("/supervisor.json"))
    problem = store.load()        # at boot; None, or why the state starts fresh (missing, corrupt)
    store.save_if_changed()       # every service pass: writes only when supervisor.version moved

The state is `Supervisor.save_into`'s small list of ints as JSON, written
with ConfigStore's temporary-file-and-rename: after a power cut at any
moment the file holds the old or the new state, never neither. A lockout
therefore survives a reboot and even a power cut during the save. A file
that is missing, unreadable or of another shape (stage2_events_max changed)
gives a fresh state, and `load` says why so the firmware can log it.

Runs outside the control tick (allocates; a flash write takes milliseconds).
"""

from compat import build


class LockoutStore:
    def __init__(self, supervisor, store):
        self.supervisor = supervisor
        self.store = store
        self.saved_version = supervisor.version
        self.saves = 0

    def load(self):
        """At boot: the saved state into the supervisor; returns None, or why it starts fresh."""
        return build("app_init", "lockout_store", self, (), {})  # boot only: app_init.py

    def save_if_changed(self):
        if self.supervisor.version != self.saved_version:
            self.save()

    def save(self):
        supervisor = self.supervisor
        state = [0] * supervisor.state_size()
        supervisor.save_into(state)
        version = supervisor.version
        self.store.save({"state": state})
        self.saved_version = version
        self.saves += 1
