"""Run an iterator a few items ahead of its consumer in a worker thread.

The device dream loop uses it so that decoding the next frame and its optical flow (OpenCV, on the host) overlap
the GPU's ascent steps on the current one: both release the GIL, so the two really run at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()
_POLL_S = 0.05  # how often a blocked worker looks whether the consumer has gone
_JOIN_S = 5.0  # the most a closing consumer waits for the worker to finish the item in hand


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


def read_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` in order while a worker thread prepares up to ``depth`` more.

    An exception raised by ``items`` reaches the consumer where it happened, after every item before it. When the
    consumer stops early (``close()``, an exception, Ctrl-C), the worker stops after the item in hand and is joined
    before this generator returns, so whatever ``items`` reads from may be closed right after.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            put(_Raised(error))
            return
        put(_END)

    worker = threading.Thread(target=work, name="vis-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join(_JOIN_S)
