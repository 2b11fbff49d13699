"""Marking a TIFF's fourth channel as alpha: OpenCV writes RGBA TIFFs without the ExtraSamples tag, so readers
that go by the tags (libtiff's tools, GIMP, most viewers) take that channel as unspecified data and drop the
transparency. The tag is added by writing a new first directory (IFD) at the end of the file: every other byte,
and so every offset the old directory points at, stays where it was."""

from __future__ import annotations

import struct

EXTRA_SAMPLES = 338  # TIFF 6.0: the meaning of the samples past the colour ones
UNASSOCIATED_ALPHA = 2  # straight (not premultiplied) alpha, as vis's RGBA is
SHORT = 3  # the TIFF field type of a 16-bit unsigned value
TIFF_HEADERS = (b"II*\0", b"MM\0*")  # classic TIFF, little- and big-endian


def with_alpha_tag(tiff: bytes) -> bytes:
    """``tiff`` (a classic TIFF, either byte order, as OpenCV encodes) with its first directory's ExtraSamples set to
    unassociated alpha; unchanged when the tag is already there.

    Raises:
        ValueError: the bytes are no classic TIFF (a BigTIFF, or no TIFF header).
    """
    if tiff[:4] not in TIFF_HEADERS:
        raise ValueError("not a classic TIFF")
    order = "<" if tiff[:2] == b"II" else ">"
    first = struct.unpack(order + "I", tiff[4:8])[0]
    count = struct.unpack(order + "H", tiff[first:first + 2])[0]
    entries = [tiff[first + 2 + 12 * i:first + 14 + 12 * i] for i in range(count)]
    following = tiff[first + 2 + 12 * count:first + 6 + 12 * count]  # the next directory's offset, kept
    if any(struct.unpack(order + "H", entry[:2])[0] == EXTRA_SAMPLES for entry in entries):
        return tiff
    # a SHORT value sits in the entry's first two value bytes, in the file's byte order
    entries.append(struct.pack(order + "HHIHH", EXTRA_SAMPLES, SHORT, 1, UNASSOCIATED_ALPHA, 0))
    entries.sort(key=lambda entry: struct.unpack(order + "H", entry[:2])[0])  # TIFF wants its tags ascending
    body = tiff + b"\0" * (len(tiff) % 2)  # a directory starts on a word boundary
    directory = struct.pack(order + "H", len(entries)) + b"".join(entries) + following
    return body[:4] + struct.pack(order + "I", len(body)) + body[8:] + directory
