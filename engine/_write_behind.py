"""Write items in a worker thread while the caller makes the next ones.

The dream commands hand each dreamed frame to a :class:`WriteBehind` over their video sink, so encoding a frame
(PyAV releases the GIL while it converts and encodes) overlaps dreaming the next one. On a GPU that matters: a
1280x720 H.264 frame costs the host 10-15 ms, a third of a 30 fps frame's time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from vis.engine._closing import ClosedOnExit

T = TypeVar("T")

_POLL_S = 0.05  # how often an idle worker looks whether it was closed
_JOIN_S = 5.0  # the most an interrupted close waits for the item in hand


class WriteBehind(ClosedOnExit, Generic[T]):
    """Calls ``write(item)`` for each submitted item, in order, in one worker thread.

    At most ``depth`` items wait while one is written, so :meth:`submit` blocks when the writer falls behind and
    memory stays bounded. ``on_written()`` runs in the worker after each write: a progress count there counts items
    that reached ``write``, not items still waiting. :meth:`close` writes everything submitted before it returns.

    A failed ``write`` is raised in the caller by the next :meth:`submit`, or by :meth:`close` when no submit came
    after it; the items after it are not written. An interrupted :meth:`close` (a second Ctrl-C) stops after the
    item in hand.
    """

    def __init__(self, write: Callable[[T], None], depth: int = 1, on_written: Callable[[], None] | None = None):
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._write, self._on_written = write, on_written
        self._waiting: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._error_reported = False  # raised by submit already: close does not raise it again
        self._finish, self._stop = threading.Event(), threading.Event()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="vis-write-behind", daemon=True)
        self._worker.start()

    def _work(self) -> None:
        while True:
            try:
                item = self._waiting.get(timeout=_POLL_S)
            except queue.Empty:
                if self._finish.is_set():
                    return
                continue
            if self._error is not None or self._stop.is_set():
                continue  # dropped: the caller learns of the error, or asked to stop
            try:
                self._write(item)
                if self._on_written is not None:
                    self._on_written()
            except BaseException as error:  # raised in the caller's thread
                self._error = error

    def submit(self, item: T) -> None:
        if self._closed:
            raise ValueError("submit after close")
        if self._error is not None:
            self._error_reported = True
            raise self._error
        self._waiting.put(item)

    def close(self) -> None:
        """Write what is waiting, stop the worker; raise a write's error if one failed."""
        if self._closed:
            return
        self._closed = True
        self._finish.set()
        try:
            self._worker.join()
        except BaseException:
            self._stop.set()
            self._worker.join(_JOIN_S)
            raise
        if self._error is not None and not self._error_reported:
            raise self._error
