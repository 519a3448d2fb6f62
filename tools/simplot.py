"""Day-curve plot of one simulator run, like the curves in a product sheet.

Load, PV available, PV produced and true grid power over time, the export
limit as a line at -limit, and the over-limit excursions shaded. Data are
thinned to about one point per second so a plot takes well under a second.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import metrics  # noqa: E402
import numpy as np  # noqa: E402


def plot(run, path):
    every = max(1, int(round(1.0 / run.step_s)))
    minutes = run.times_s[::every] / 60.0
    grid = run.grid_phase_w.sum(axis=0)
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=90)
    ax.plot(minutes, run.load_total_w[::every], color="tab:gray", lw=0.8, label="load")
    ax.plot(minutes, run.pv_available_w[::every], color="gold", lw=1.0, label="PV available")
    ax.plot(minutes, run.pv_total_w[::every], color="tab:green", lw=1.0, label="PV produced")
    ax.plot(minutes, grid[::every], color="tab:blue", lw=0.8, label="grid (+import / -export)")
    ax.axhline(-run.export_limit_w, color="tab:red", lw=1.0, ls="--", label="export limit")
    over = metrics.over_limit_w(run.grid_phase_w, run.export_limit_w, run.phase_export_limit_w)
    flag = np.concatenate(([0], (over > metrics.OVER_EPSILON_W).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(flag))
    for start, end in zip(edges[0::2], edges[1::2], strict=True):
        ax.axvspan(run.times_s[start] / 60.0, run.times_s[end - 1] / 60.0 + run.step_s / 60.0, color="tab:red",
                   alpha=0.25, lw=0)
    m = run.metrics
    ax.set_title("%s / %s: over-limit %.2f Wh, lost yield %.1f Wh, %d commands" % (
        run.scenario, run.controller, m["export_over_limit_wh"], m["lost_yield_wh"], m["limit_commands"]))
    ax.set_xlabel("minutes")
    ax.set_ylabel("W")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small", ncol=5)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
