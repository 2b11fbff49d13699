"""Wording that messages share. Light on purpose: the CLI imports it at start."""

from collections.abc import Sequence


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 frame``, ``2 frames``, ``0 frames`` (``plural`` where adding an s is wrong: patch, patches)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def quoted_class(categories: Sequence[str], index: int) -> str:
    """`` 'tabby'``, the name of class ``index`` to put after its number; nothing where the name is the number
    (LeNet's digits) or the model has no name for it."""
    name = categories[index] if 0 <= index < len(categories) else ""
    return f" {name!r}" if name and name != str(index) else ""


def printable(text: str) -> str:
    """``text`` as a figure can draw it: the bytes of a file name that are no UTF-8 (which Python holds as
    surrogates, and matplotlib refuses) become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def cut_left(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, its start cut to an ellipsis: a path's end (its file name) tells
    paths apart, where its start would not. Printable (see :func:`printable`)."""
    text = printable(text)
    return text if len(text) <= width else "…" + text[-(width - 1):]


def first_few(names: list[str], shown: int = 3) -> str:
    """``a, b, c, ...``: the first ``shown`` of ``names``, and an ellipsis where more are left out."""
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def dims(shape: tuple[int, ...]) -> str:
    """``64x3x7x7``: an array's shape as messages and tables write it."""
    return "x".join(map(str, shape))


def clock(seconds: float) -> str:
    """``seconds`` as H:MM:SS (an ETA)."""
    s = max(int(seconds), 0)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def comma_list(text: str | None, option: str) -> tuple[str, ...]:
    """``--option a, b,c`` as its stripped entries; none for an absent or blank text (the caller decides what that
    means). An empty entry among others (``a,,b``, ``a,``) is refused: something was left out by mistake."""
    from vis.errors import VisError

    parts = [p.strip() for p in text.split(",")] if text else []
    if not any(parts):
        return ()
    if not all(parts):
        raise VisError(f"{option} {text!r} has an empty entry between commas")
    return tuple(parts)


def seconds_in(text: str) -> float:
    """A time as a user types it: seconds (``90``, ``2.5``, ``90s``) or ``[H:]M:SS[.ff]`` (``1:30``, ``0:01:30.5``).

    Raises:
        VisError: anything else, or a time below 0.
    """
    import math

    from vis.errors import VisError

    parts = text.strip().removesuffix("s").split(":") if text.strip() else []
    try:
        numbers = [float(p) if i == len(parts) - 1 else int(p) for i, p in enumerate(parts)]
    except ValueError:
        numbers = []
    well_formed = 1 <= len(numbers) <= 3 and all(p.strip() == p and p for p in parts)
    if len(numbers) > 1 and ("s" in text or any(n >= 60 for n in numbers[1:]) or any(n < 0 for n in numbers)):
        well_formed = False
    if not well_formed or not math.isfinite(numbers[-1]):
        raise VisError(f"expected a time in seconds (90, 2.5) or as [H:]M:SS (1:30, 0:01:30.5), got {text!r}")
    seconds = sum(n * 60 ** i for i, n in enumerate(reversed(numbers)))
    if seconds < 0:
        raise VisError(f"a time must be 0 or later, got {text!r}")
    return float(seconds)
