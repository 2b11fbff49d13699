"""WriteBehind: every item written in order by one worker, bounded waiting, errors reach the caller."""

import threading

import pytest

from vis.engine._write_behind import WriteBehind


def test_writes_every_item_in_order_before_close_returns() -> None:
    written, counted = [], []
    with WriteBehind(written.append, depth=2, on_written=lambda: counted.append(len(written))) as writer:
        for i in range(50):
            writer.submit(i)
    assert written == list(range(50))
    assert counted == list(range(1, 51))  # on_written runs after its item's write


def test_writes_in_another_thread_while_the_caller_goes_on() -> None:
    submitted, threads = threading.Event(), []

    def write(item: int) -> None:
        threads.append(threading.get_ident())
        assert submitted.wait(5.0), "the write ran inside submit, not beside the caller"

    with WriteBehind(write) as writer:
        writer.submit(0)
        submitted.set()
    assert threads and threads[0] != threading.get_ident()


def test_submit_blocks_while_depth_items_wait() -> None:
    release, written = threading.Event(), []

    def write(item: int) -> None:
        release.wait(5.0)
        written.append(item)

    writer = WriteBehind(write, depth=1)
    writer.submit(0)  # taken by the worker, which waits
    third_in = threading.Event()

    def submit_more() -> None:
        writer.submit(1)  # waits in the queue
        writer.submit(2)  # must block: the queue holds one
        third_in.set()

    feeder = threading.Thread(target=submit_more)
    feeder.start()
    assert not third_in.wait(0.3)
    release.set()
    feeder.join(5.0)
    assert third_in.is_set()
    writer.close()
    assert written == [0, 1, 2]


def test_a_failed_write_reaches_the_caller_and_stops_the_writing() -> None:
    written = []

    def write(item: int) -> None:
        if item == 3:
            raise OSError("disk full")
        written.append(item)

    writer = WriteBehind(write)
    with pytest.raises(OSError, match="disk full"):
        for i in range(100):
            writer.submit(i)
    with pytest.raises(OSError, match="disk full"):
        writer.submit(100)  # still failed
    writer.close()  # the caller has heard of it: an exit while the error propagates does not raise it again
    assert written == [0, 1, 2]


def test_an_error_after_the_last_submit_is_raised_by_close() -> None:
    def write(item: int) -> None:
        raise ValueError(f"bad item {item}")

    writer = WriteBehind(write)
    writer.submit(7)
    with pytest.raises(ValueError, match="bad item 7"):
        writer.close()


def test_close_twice_is_fine_and_submit_after_close_is_refused() -> None:
    writer = WriteBehind(lambda item: None)
    writer.close()
    writer.close()
    with pytest.raises(ValueError, match="after close"):
        writer.submit(1)
    with pytest.raises(ValueError, match="depth"):
        WriteBehind(lambda item: None, depth=0)
