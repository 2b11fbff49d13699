"""One reading of `--channels` for every command that takes it (`vis features`, `vis atlas`)."""

from __future__ import annotations

from vis.errors import VisError

FORMS = "0:16, 0:64:2, 5 or 1,3,7"


def parse_channels(text: str | None, count: int, layer: str = "the layer", default: int = 16) -> list[int]:
    """``"0:16"``, ``"0:64:2"``, ``"5"``, ``"1,3,7"`` or a mix (``"0:4,10"``) -> channel indices of a layer with
    ``count`` channels; ``None``: the first ``default`` (blank text and empty entries are errors). A range leaves out its end, as Python's does, and an
    open end runs to the last channel.

    Raises:
        VisError: malformed text, an empty range, a channel outside 0..count-1 or one chosen twice.
    """
    if text is None:
        return list(range(min(default, count)))
    if not text.strip():
        raise VisError(f"--channels is empty: give channels like {FORMS}, or leave it out for the first {default}")
    chosen: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            raise VisError(f"--channels {text!r} has an empty entry between commas: give channels like {FORMS}")
        try:
            bits = [int(b) if b else None for b in part.split(":")]
        except ValueError:
            raise VisError(f"--channels must look like {FORMS}; got {text!r}") from None
        if len(bits) == 1:
            chosen.append(bits[0])  # type: ignore[arg-type]
            continue
        if len(bits) > 3:
            raise VisError(f"--channels must look like {FORMS}; got {text!r}")
        start, stop = bits[0] or 0, count if bits[1] is None else bits[1]
        step = 1 if len(bits) == 2 or bits[2] is None else bits[2]
        if step < 1:
            raise VisError(f"channel range {part!r} needs a step of at least 1")
        if stop > count:
            raise VisError(f"channel range {part!r} is out of range: {layer} has {count} channels (0..{count - 1})")
        if start >= stop:
            raise VisError(f"channel range {part!r} is empty: the end is excluded, so it must be above the start")
        chosen.extend(range(start, stop, step))
    if not chosen:
        raise VisError(f"--channels {text!r} select no channel")
    bad = [c for c in chosen if not 0 <= c < count]
    if bad:
        raise VisError(f"channel {bad[0]} is out of range: {layer} has {count} channels (0..{count - 1})")
    repeated = sorted({c for c in chosen if chosen.count(c) > 1})
    if repeated:
        raise VisError(f"--channels {text!r} select channel {repeated[0]} more than once")
    return chosen
