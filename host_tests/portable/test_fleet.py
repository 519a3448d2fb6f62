"""The inverter table: minimums, the newest-command-only queue, and feedback."""

import allocs
import fleet
from testkit import micropython_only, raises


def make():
    table = fleet.Fleet(3)
    table.add(0, rated_w=800, phase=0, inputs=2)
    table.add(1, rated_w=1500, phase=1, inputs=4)
    table.add(2, rated_w=300, phase=2, inputs=1, min_w=20)
    return table


def test_minimum_is_2_percent_or_12_w_per_input():
    table = make()
    assert table.min_dw[0] == 240  # 2 x 12 W beats 2 % of 800 W
    assert table.min_dw[1] == 480  # 4 x 12 W beats 2 % of 1500 W = 30 W
    assert table.min_dw[2] == 200  # the configured 20 W beats 12 W and 6 W
    assert table.rated_dw[1] == 15000
    assert table.target_dw[0] == 8000


def test_bad_rows_are_refused():
    table = fleet.Fleet(1)
    raises(ValueError, table.add, 0, 800, 3)
    raises(ValueError, table.add, 0, 0, 0)


def test_only_the_newest_command_is_queued():
    table = make()
    assert table.next_queued() == -1
    table.command(1, 5000, 10)
    table.command(1, 4000, 20)
    table.command(2, 1000, 30)
    assert table.next_queued() == 1
    assert table.target_dw[1] == 4000
    assert table.next_queued(2) == 2


def test_a_late_ack_does_not_hide_a_newer_command():
    table = make()
    table.command(0, 3000, 0)
    table.sent(0, 5)
    table.command(0, 2000, 6)
    table.acked(0, 9)
    assert table.cmd_state[0] == fleet.CMD_QUEUED
    table.sent(0, 10)
    table.acked(0, 12)
    assert table.cmd_state[0] == fleet.CMD_ACKED
    assert table.cmd_t_ms[0] == 12


def test_output_reports_count():
    table = make()
    assert table.output_seq[2] == 0
    table.report_output(2, 2500, 100)
    table.report_output(2, 2400, 200)
    assert table.output_seq[2] == 2
    assert table.output_dw[2] == 2400
    assert table.output_t_ms[2] == 200


@micropython_only
def test_command_cycle_allocates_nothing():
    table = make()

    def cycle():
        table.command(1, 7000, 1)
        index = table.next_queued()
        table.sent(index, 2)
        table.acked(index, 3)
        table.report_output(index, 6900, 4)

    allocs.assert_free(cycle)
