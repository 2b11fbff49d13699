import threading
import time

import pytest

from vis.engine._read_ahead import read_ahead


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "vis-read-ahead"]


def test_yields_every_item_in_order_and_leaves_no_thread():
    assert list(read_ahead(iter(range(50)), depth=2)) == list(range(50))
    assert not _workers()


def test_items_are_made_in_the_worker_while_the_consumer_works():
    made_in = []

    def items():
        for i in range(3):
            made_in.append(threading.current_thread().name)
            yield i

    assert list(read_ahead(items())) == [0, 1, 2]
    assert made_in == ["vis-read-ahead"] * 3


def test_runs_at_most_depth_items_ahead():
    made = []

    def items():
        for i in range(100):
            made.append(i)
            yield i

    it = read_ahead(items(), depth=2)
    assert next(it) == 0
    time.sleep(0.3)  # time for the worker to run ahead as far as it may
    # one item taken, two waiting in the queue, one in the worker's hand blocked on the full queue
    assert len(made) == 4
    it.close()


def test_an_error_arrives_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise OSError("truncated input")

    it = read_ahead(items())
    assert next(it) == 1 and next(it) == 2
    with pytest.raises(OSError, match="truncated input"):
        next(it)
    assert not _workers()


def test_closing_early_stops_the_worker_before_returning():
    it = read_ahead(iter(range(10_000)), depth=1)
    assert next(it) == 0
    it.close()
    assert not _workers()  # joined: the source may be closed now


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        next(read_ahead(iter([1]), depth=0))
