"""The inverter table: what the controller and the inverter links share.

Data flows one way through it. The controller writes a new limit with
`command()`; a link picks up queued commands with `next_queued()`, reports
what became of each (`sent`, `acked`, `failed`) and feeds back the AC output
the inverter reports (`report_output`). Only the newest limit per inverter is
ever queued: a newer command simply overwrites an older one that was not sent
yet, so a slow link can never fall behind. `rank` orders the queue: a link
sends the queued command of the highest rank first (equal ranks: the lowest
index); the controller ranks a cut by its size, so the largest goes first.

A target of 0 means "switch off"; the controller only asks for it where the
link set `can_switch_off`. Every other target lies between `min_dw` and
`rated_dw`.

Everything lives in preallocated arrays: reading and writing them allocates
nothing, and each method is a few small-int operations.
"""

from compat import build, const

_CMD_IDLE = const(0)
CMD_QUEUED = const(1)
CMD_SENT = const(2)
CMD_ACKED = const(3)
CMD_FAILED = const(4)

# Hoymiles (and most microinverters) refuse limits below 2 % of the rating or
# 12 W per DC input, whichever is higher.
_MIN_LIMIT_PCT = const(2)
_MIN_LIMIT_DW_PER_INPUT = const(120)


def min_limit_dw(rated_dw, inputs, min_dw=0):
    """The lowest limit an inverter accepts: 2 % of its rating or 12 W per DC input, at least
    `min_dw`, at most the rating. The one copy of this rule (the simulator uses it too)."""
    low = max(min_dw, (rated_dw * _MIN_LIMIT_PCT + 99) // 100, inputs * _MIN_LIMIT_DW_PER_INPUT)
    return min(low, rated_dw)


class Fleet:
    def __init__(self, *args, **options):
        build("control_init", "fleet", self, args, options)  # boot only: control_init.py

    def add(self, index, rated_w, phase=0, inputs=1, min_w=0):
        """Describe inverter `index`; its minimum is raised to what it accepts."""
        if not 0 <= phase <= 2:
            raise ValueError("phase must be 0, 1 or 2 (L1..L3)")
        if rated_w <= 0 or inputs <= 0:
            raise ValueError("rated_w and inputs must be positive")
        rated_dw = rated_w * 10
        self.rated_dw[index] = rated_dw
        self.min_dw[index] = min_limit_dw(rated_dw, inputs, min_w * 10)
        self.phase[index] = phase
        self.inputs[index] = inputs
        self.target_dw[index] = rated_dw

    def command(self, index, limit_dw, now_ms):
        self.target_dw[index] = limit_dw
        self.cmd_state[index] = CMD_QUEUED
        self.cmd_t_ms[index] = now_ms

    def next_queued(self, start=0):
        """Index of the first queued command at or after `start`, or -1."""
        state = self.cmd_state
        for index in range(start, self.count):
            if state[index] == CMD_QUEUED:
                return index
        return -1

    def sent(self, index, now_ms):
        self._set_state(index, CMD_SENT, now_ms)

    def acked(self, index, now_ms):
        self._set_state(index, CMD_ACKED, now_ms)

    def failed(self, index, now_ms):
        self._set_state(index, CMD_FAILED, now_ms)

    def _set_state(self, index, state, now_ms):
        # A newer command queued meanwhile stays queued: the report is about the old one.
        if self.cmd_state[index] != CMD_QUEUED or state == CMD_SENT:
            self.cmd_state[index] = state
            self.cmd_t_ms[index] = now_ms

    def report_output(self, index, output_dw, now_ms):
        self.output_dw[index] = output_dw
        self.output_t_ms[index] = now_ms
        self.output_seq[index] += 1
