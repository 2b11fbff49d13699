"""Wording that messages share. Light on purpose: the CLI imports it at start."""


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 frame``, ``2 frames``, ``0 frames`` (``plural`` where adding an s is wrong: patch, patches)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


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
