"""The master's non-blocking state machine over a replaying stream: frames, noise, timeouts, retries."""

from array import array

import allocs
import modbus
import modbus_error
import modbus_write
from modbus_frames import exception_response, floats, frame, read_response, words
from replay_stream import ReplayStream
from testkit import micropython_only, raises

PT = read_response(1, 3, floats(28500.0))  # 01 03 04 46 DE A8 00 F0 81


def run(master, start_ms, until_ms, step_ms=1):
    """Poll until the transaction finishes; returns (status, finish time)."""
    now = start_ms
    while now <= until_ms:
        status = master.poll(now)
        if status != modbus.PENDING:
            return status, now
        now += step_ms
    return modbus.PENDING, now


def test_request_bytes_and_a_good_answer():
    stream = ReplayStream().answer(PT)
    master = modbus.Master(stream)
    assert master.start_read(1, 3, 0x2012, 2, 0)
    assert stream.request() == bytes.fromhex("0103201200026FCE")
    assert run(master, 0, 10) == (modbus.DONE, 0)
    assert master.register(0) == 0x46DE and master.register(1) == 0xA800
    assert master.ok == 1 and master.poll(1) == modbus.IDLE


def test_byte_by_byte_delivery_completes_by_length():
    stream = ReplayStream().answer(read_response(1, 4, floats(1.0, 2.0, 3.0)))
    stream.chunk = 1
    master = modbus.Master(stream)
    master.start_read(1, 4, 0x000C, 6, 0)
    status, _ = run(master, 0, 100)
    assert status == modbus.DONE
    assert master.register(4) == 0x4040


def test_a_long_frame_in_one_byte_pieces_is_read_in_one_poll():
    # found by hypothesis: draining at most a few chunks per poll made an 85-byte
    # answer take 10 polls, longer than the timeout
    stream = ReplayStream().answer(read_response(1, 3, bytes(80)))
    stream.chunk = 1
    master = modbus.Master(stream, timeout_ms=100, retries=0)
    master.start_read(1, 3, 0x2000, 40, 0)
    assert master.poll(12) == modbus.DONE


def test_noise_and_echo_before_the_frame_are_skipped():
    echo = bytes.fromhex("0103201200026FCE")
    # an echo whose register byte looks like the byte count (0x04), then noise with our address
    tricky_echo = frame(1, 3, 0x04, 0x00, 0x00, 0x02)
    for prefix in (b"\x00\xff\x01", echo, tricky_echo, b"\x01\x03\x04\x01"):
        stream = ReplayStream().answer(prefix + PT)
        master = modbus.Master(stream)
        master.start_read(1, 3, 0x2012, 2, 0)
        assert run(master, 0, 10)[0] == modbus.DONE, prefix
        assert master.register(0) == 0x46DE


def test_answers_from_other_addresses_or_functions_are_not_ours():
    stream = ReplayStream().answer(read_response(2, 3, floats(1.0)) + read_response(1, 4, floats(1.0)) + PT)
    master = modbus.Master(stream)
    master.start_read(1, 3, 0x2012, 2, 0)
    assert run(master, 0, 10)[0] == modbus.DONE
    assert master.register(0) == 0x46DE


def test_exception_response_carries_its_code_and_is_not_retried():
    stream = ReplayStream().answer(exception_response(1, 3, 2), PT)
    master = modbus.Master(stream)
    master.start_read(1, 3, 0x2012, 2, 0)
    assert run(master, 0, 10)[0] == modbus.EXCEPTION
    assert master.exception_code == 2 and stream.writes == 1 and master.exception == 1
    error = master.error()
    assert isinstance(error, modbus_error.ModbusError) and error.code == 2
    assert (modbus_error.TIMEOUT, modbus_error.BAD_FRAME) == (modbus.TIMEOUT, modbus.BAD_FRAME)
    assert "illegal data address" in str(error)


def test_timeout_is_retried_then_reported():
    stream = ReplayStream().answer(b"", b"")
    master = modbus.Master(stream, timeout_ms=100, retries=1)
    master.start_read(1, 3, 0x2012, 2, 0)
    assert master.poll(99) == modbus.PENDING
    assert master.poll(100) == modbus.PENDING  # first timeout: resent
    assert stream.writes == 2
    assert master.poll(199) == modbus.PENDING
    assert master.poll(200) == modbus.TIMEOUT
    assert master.timeout == 2 and master.error().code == modbus.TIMEOUT


def test_a_retry_can_succeed():
    stream = ReplayStream().answer(b"", PT)
    master = modbus.Master(stream, timeout_ms=100, retries=1)
    master.start_read(1, 3, 0x2012, 2, 0)
    status, when = run(master, 0, 500, 10)
    assert status == modbus.DONE and when == 110  # resent at 100, answer seen at 110
    assert master.timeout == 1 and master.ok == 1


def test_bad_crc_ends_at_silence_not_at_timeout():
    corrupt = bytearray(PT)
    corrupt[5] ^= 0x10
    stream = ReplayStream().answer(bytes(corrupt), bytes(corrupt))
    master = modbus.Master(stream, timeout_ms=250, retries=1)
    assert master.silence_ms == 5  # t3.5 at 9600 8N1 = 3.65 ms, rounded up, + 1 tick
    master.start_read(1, 3, 0x2012, 2, 0)
    status, when = run(master, 0, 1000)
    assert status == modbus.BAD_FRAME
    assert when == 11 and stream.writes == 2 and master.crc == 2  # 5 ms of silence after each attempt


def test_truncated_frame_is_a_bad_frame():
    stream = ReplayStream().answer(PT[:6])
    master = modbus.Master(stream, retries=0)
    master.start_read(1, 3, 0x2012, 2, 0)
    assert run(master, 0, 1000) == (modbus.BAD_FRAME, 5)


def test_over_long_garbage_ends_within_the_timeout():
    stream = ReplayStream(capacity=600).answer(bytes(range(256)) * 2)
    master = modbus.Master(stream, timeout_ms=50, retries=0)
    master.start_read(1, 3, 0x2012, 2, 0)
    status, when = run(master, 0, 1000)
    assert status == modbus.BAD_FRAME and when <= 50


def test_late_answer_after_timeout_is_flushed_before_the_next_request():
    stream = ReplayStream().answer(b"", PT)
    master = modbus.Master(stream, timeout_ms=20, retries=0, late_ms=60)
    master.start_read(1, 3, 0x2012, 2, 0)
    assert run(master, 0, 100)[0] == modbus.TIMEOUT
    stream.inject(read_response(1, 3, floats(-1.0)))  # the slow meter answers late
    assert not master.start_read(1, 3, 0x2012, 2, 30)  # quiet until 60 + t3.5 after the request
    assert not master.free(64) and master.drained == 9  # drained and counted while quiet
    assert master.start_read(1, 3, 0x2012, 2, 65)
    assert run(master, 65, 100)[0] == modbus.DONE
    assert master.register(0) == 0x46DE


def test_quiet_time_follows_the_last_unanswered_request():
    # the per-transaction late_ms wins over the master's; a retry that succeeds still leaves its
    # own answer outstanding, so the quiet time counts from the retry
    stream = ReplayStream().answer(b"", PT, PT)
    master = modbus.Master(stream, timeout_ms=100, retries=1, late_ms=5000)
    master.start_read(1, 3, 0x2012, 2, 0, 300)
    assert run(master, 0, 500, 10) == (modbus.DONE, 110)
    assert not master.free(404) and master.free(405)  # 100 + 300 + t3.5
    master.start_read(1, 3, 0x2012, 2, 405, 300)
    assert run(master, 405, 500) == (modbus.DONE, 405)
    assert not master.free(409) and master.free(410)  # answered at once: t3.5 only


def test_an_answer_read_after_the_window_closed_is_not_taken():
    stream = ReplayStream().answer(PT)
    master = modbus.Master(stream, timeout_ms=100, retries=0, late_ms=0)
    master.start_read(1, 3, 0x2012, 2, 0)
    assert master.poll(101) == modbus.TIMEOUT  # the poll came late: when did the bytes arrive?
    assert master.ok == 0 and master.timeout == 1


def test_bus_is_free_only_after_t35_of_silence():
    stream = ReplayStream().answer(PT, PT)
    master = modbus.Master(stream)
    assert master.free(0)
    master.start_read(1, 3, 0x2012, 2, 0)
    assert not master.free(0) and not master.start_read(1, 3, 0x2012, 2, 0)
    assert run(master, 1, 10) == (modbus.DONE, 1)
    assert not master.free(5) and master.free(6)


def test_write_single_and_multiple():
    stream = ReplayStream().answer(frame(1, 6, 0x00, 0x2E, 0x00, 0x05), frame(1, 16, words(0x002E, 1)))
    master = modbus_write.WriteMaster(stream)
    master.start_write_single(1, 0x002E, 5, 0)
    assert stream.request() == frame(1, 6, words(0x002E, 5))
    assert run(master, 0, 10)[0] == modbus.DONE
    master.start_write_multiple(1, 0x002E, [5], 20)
    assert stream.request() == bytes.fromhex("01100002E0001020005601D".replace("0002E", "002E"))
    assert run(master, 20, 30)[0] == modbus.DONE


def test_write_response_must_echo_the_request():
    stream = ReplayStream().answer(frame(1, 6, 0x00, 0x2E, 0x00, 0x07))
    master = modbus_write.WriteMaster(stream, retries=0)
    master.start_write_single(1, 0x002E, 5, 0)
    assert run(master, 0, 100)[0] == modbus.BAD_FRAME


def test_bad_requests_are_refused():
    master = modbus.Master(ReplayStream())
    raises(ValueError, master.start_read, 1, 3, 0, 0, 0)
    raises(ValueError, master.start_read, 1, 3, 0, 126, 0)
    raises(ValueError, master.start_read, 1, 5, 0, 2, 0)
    raises(ValueError, modbus_write.WriteMaster(ReplayStream()).start_write_multiple, 1, 0, [], 0)


def test_silence_follows_the_baud_rate():
    assert modbus.silence_ms_for(9600) == 5
    assert modbus.silence_ms_for(9600, 11) == 6
    assert modbus.silence_ms_for(2400) == 16
    assert modbus.silence_ms_for(115200) == 3


@micropython_only
def test_poll_path_allocates_nothing():
    stream = ReplayStream(replay=True).answer(b"\x00\x55" + PT, exception_response(1, 3, 2))
    master = modbus.Master(stream)
    clock = [0]

    def transaction():
        now = clock[0]
        master.start_read(1, 3, 0x2012, 2, now)
        while master.poll(now) == modbus.PENDING:
            now += 1
        clock[0] = now + 10

    allocs.assert_free(transaction, 1000)
    assert master.ok >= 1000 and master.exception >= 1000


@micropython_only
def test_writes_allocate_nothing_after_the_first_of_each_length():
    stream = ReplayStream(replay=True).answer(frame(1, 16, words(0x9C40, 2)), frame(1, 6, words(0x002E, 5)))
    master = modbus_write.WriteMaster(stream)
    values = array("H", (0x1234, 0xABCD))
    clock = [0]

    def writes():
        now = clock[0]
        master.start_write_multiple(1, 0x9C40, values, now)
        while master.poll(now) == modbus.PENDING:
            now += 1
        now += 10
        master.start_write_single(1, 0x002E, 5, now)
        while master.poll(now) == modbus.PENDING:
            now += 1
        clock[0] = now + 10

    allocs.assert_free(writes, 500)
    assert master.ok >= 1000 and master.crc == 0
    assert stream.request() == frame(1, 6, words(0x002E, 5))
