"""One ``with`` protocol for the sources, sinks and windows that hold a device, a file or a thread."""

from __future__ import annotations

from typing import TypeVar

_Self = TypeVar("_Self", bound="ClosedOnExit")


class ClosedOnExit:
    """``with thing:`` closes the thing when the block ends, however it ends; a subclass says how in ``close``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
