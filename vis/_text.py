"""Wording that messages share. Light on purpose: the CLI imports it at start."""


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 frame``, ``2 frames``, ``0 frames`` (``plural`` where adding an s is wrong: patch, patches)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
