"""Reading and writing still images. Everything inside vis is HxWx3 float32 RGB in [0, 1]."""

from __future__ import annotations

import codecs
import errno
import io
import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from vis.engine._image_array import as_rgb, check_layout, quantize, unit_floats
from vis.engine._tiff import EXTRA_SAMPLES, TIFF_HEADERS
from vis.errors import InputFileError, OutputAppearedError, OutputExistsError, OutputPathError, VisError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
# read, not written: a folder scan takes what a single image argument takes (OpenCV decodes them all)
ALPHA_SUFFIXES = frozenset({".png", ".webp", ".tif", ".tiff"})  # written with their alpha channel
READ_IMAGE_SUFFIXES = IMAGE_SUFFIXES | {".gif", ".pbm", ".pnm", ".jp2", ".avif", ".jfif", ".jpe"}
# written with 16 bits a channel when asked; OpenCV writes JPEG, WebP and BMP with 8
DEEP_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".ppm", ".pgm"})
GREY_ONLY_SUFFIXES = frozenset({".pgm"})  # a colour image is written as its luminance


def load_image(path: str | Path) -> np.ndarray:
    """Read any image OpenCV can decode as HxWx3 float32 RGB in [0, 1].

    Grayscale is replicated to three channels, alpha is composited over white, 16-bit images keep their range, and
    an EXIF orientation (a phone photo stored sideways) is applied, so the image is the one a photo viewer shows.

    Raises:
        InputFileError: the file is missing or is not a decodable image.
    """
    return as_rgb(_decoded(path))


class Still(NamedTuple):
    """A still image as :func:`load_image_alpha` reads it."""

    rgb: np.ndarray  # :func:`load_image`'s HxWx3 float32 RGB, alpha composited over white
    alpha: np.ndarray | None  # HxW float32 in [0, 1]; None without one, or where it is opaque everywhere
    bits: int  # 8, or 16 for a deeper file (16-bit, a float TIFF): the depth its dream is written back with


def load_image_alpha(path: str | Path) -> Still:
    """:func:`load_image`'s RGB, the image's alpha channel and its depth, from one decode, so that a dream of a
    cut-out can keep its transparency and one of a 16-bit photo its depth.

    Raises:
        InputFileError: the file is missing or is not a decodable image.
    """
    raw = _decoded(path)
    alpha = None
    if raw.ndim == 3 and raw.shape[2] == 4:
        alpha = unit_floats(raw[..., 3], "alpha")
        alpha = None if alpha.min() >= 1.0 else alpha
    return Still(as_rgb(raw), alpha, 8 if raw.dtype == np.uint8 else 16)


def with_alpha(image: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """HxWx3 ``image`` with ``alpha`` (any size: resized to the image's, as the image was) as a fourth channel;
    ``image`` itself when there is no alpha."""
    if alpha is None:
        return image
    height, width = image.shape[:2]
    if alpha.shape != (height, width):
        shrink = alpha.shape[0] > height
        alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.dstack([image, np.clip(alpha, 0.0, 1.0).astype(image.dtype)])


def _decoded(path: str | Path) -> np.ndarray:
    """The pixels of an image file, upright, RGB(A) or grey, uint8, uint16 or float32 in [0, 1]."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"image not found: {path}")
    if path.is_dir():
        raise InputFileError(f"expected an image file, got a folder: {path}")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as e:  # no permission, an I/O error: one file the caller may skip
        raise InputFileError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        with opencv_errors_only(silent=True):  # a cut PNG: vis says so itself
            raw = cv2.imdecode(without_colour_profile(data), cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error as e:
        if "CV_IO_MAX_IMAGE_PIXELS" not in str(e):
            raise
        raise InputFileError(f"{path} is too large to read: OpenCV decodes at most {MAX_PIXELS} pixels") from None
    if raw is None:
        raise InputFileError(f"not a readable image: {path}")
    raw = _upright(_straight_tiff_alpha(data, raw), _exif_orientation(data))
    if raw.ndim == 3 and raw.shape[2] not in (1, 3, 4):  # a multi-channel TIFF: its first three
        raw = raw[..., :3]
    if raw.ndim == 3 and raw.shape[2] >= 3:
        raw = raw[..., [2, 1, 0, 3][: raw.shape[2]]]  # OpenCV's BGR(A)
    if raw.dtype not in (np.uint8, np.uint16):  # a float (or signed) TIFF may hold any values: taken as 0..1
        raw = np.clip(raw.astype(np.float32), 0.0, 1.0)
    return raw


def _straight_tiff_alpha(data: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """An 8-bit RGBA TIFF whose alpha is marked as such (the ExtraSamples tag, as GIMP, Pillow and vis write it) in
    straight colours: OpenCV decodes it through libtiff's RGBA reader, which multiplies the colours by the alpha, and
    a premultiplied file comes as stored; Pillow reads both as straight RGBA. Other images are returned as they are."""
    if raw.dtype != np.uint8 or raw.ndim != 3 or raw.shape[2] != 4 or data[:4].tobytes() not in TIFF_HEADERS:
        return raw
    from PIL import UnidentifiedImageError

    try:
        with open_picture(io.BytesIO(data.tobytes())) as picture:
            if EXTRA_SAMPLES not in picture.tag_v2 or picture.mode not in ("RGBA", "RGBa"):
                return raw  # an unmarked fourth channel: OpenCV read it as stored, and it is not decoded again
            rgba = np.asarray(picture.convert("RGBA"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):  # a TIFF Pillow cannot decode: OpenCV's pixels
        return raw
    return rgba[..., [2, 1, 0, 3]] if rgba.shape == raw.shape else raw  # in OpenCV's BGRA, as the rest expects


@contextmanager
def opencv_name(path: str | Path) -> Iterator[str]:
    """A name of ``path`` that OpenCV's file functions can take. A Linux file name may hold bytes that are no UTF-8
    (Python holds them as surrogates), on which OpenCV's binding crashes the process (a segfault in
    haveImageReader): such a file is opened through a link with a plain name, removed on exit."""
    name = str(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        folder = tempfile.mkdtemp(prefix="vis-name-")
        suffix = Path(name).suffix.encode("utf-8", "replace").decode("ascii", "replace").replace("?", "")
        link = os.path.join(folder, "input" + suffix)
        try:
            os.symlink(os.path.abspath(name), link)
            yield link
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    yield name


@contextmanager
def opencv_errors_only(silent: bool = False) -> Iterator[None]:
    """OpenCV's own log at error level for the block (its video backends warn on stderr while probing, its PNG
    decoder about a cut file), or none with ``silent`` (a decoder's error about a cut file that vis reports in its own
    words)."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT if silent else logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def ffmpeg_capture(name: str) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` of a file through FFmpeg alone: the backends OpenCV tries after it (its own AVI parser)
    print to stderr, past its log level, on a file FFmpeg could not open; its warning that FFmpeg could not is
    left out, as vis says that itself."""
    with opencv_errors_only():
        return cv2.VideoCapture(name, cv2.CAP_FFMPEG)


# OpenCV, which decodes every still, refuses images above 2^30 pixels; Pillow (EXIF, animations) is given the same
# limit instead of its own lower one and its warning about photos above 89 megapixels
MAX_PIXELS = 1 << 30


def open_picture(source: str | Path | io.BytesIO) -> Any:
    """``PIL.Image.open(source)`` with :data:`MAX_PIXELS` as its limit, and no warning below it.

    Raises:
        PIL.Image.DecompressionBombError: more pixels than that; Pillow's own errors for what it cannot open.
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, MAX_PIXELS // 2  # Pillow refuses twice its limit
        try:
            return Image.open(source)
        finally:
            Image.MAX_IMAGE_PIXELS = previous


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def without_colour_profile(data: np.ndarray) -> np.ndarray:
    """A PNG's bytes without its colour profile (the iCCP chunk), which OpenCV does not apply anyway: libpng prints
    its own "libpng warning: iCCP: ..." on stderr about a profile it finds odd, and OpenCV's log level does not
    reach it. Other files, and a PNG without one, are returned as they are."""
    if data[:8].tobytes() != _PNG_SIGNATURE:
        return data
    at = len(_PNG_SIGNATURE)
    while at + 8 <= data.size:  # chunks: 4 bytes of length, 4 of type, the data, 4 of CRC
        length, kind = int.from_bytes(data[at:at + 4].tobytes(), "big"), data[at + 4:at + 8].tobytes()
        if kind == b"iCCP":
            return np.concatenate([data[:at], data[at + 12 + length:]])
        if kind in (b"PLTE", b"IDAT"):  # a profile comes before both
            break
        at += 12 + length
    return data


def _exif_orientation(data: np.ndarray) -> int:
    """The EXIF orientation tag (1..8; 1 when absent). OpenCV applies it only to colour-converted reads, and vis
    reads unchanged to keep alpha and 16 bits; Pillow reads just the header here."""
    from PIL import UnidentifiedImageError

    try:
        with open_picture(io.BytesIO(data.tobytes())) as picture:
            orientation = picture.getexif().get(_ORIENTATION_TAG, 1)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):  # formats Pillow cannot read, broken EXIF
        return 1
    return orientation if orientation in range(1, 9) else 1


_ORIENTATION_TAG = 0x0112


def _upright(raw: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels turned as EXIF ``orientation`` says (2: mirrored, 3: upside down, 6: turned 90 degrees
    counter-clockwise on disk, ...)."""
    if orientation in (5, 6, 7, 8):
        raw = np.swapaxes(raw, 0, 1)  # a transpose, then the flips that make it 5..8
    flip_rows, flip_cols = {2: (False, True), 3: (True, True), 4: (True, False), 5: (False, False),
                            6: (False, True), 7: (True, True), 8: (True, False)}.get(orientation, (False, False))
    return raw[::-1 if flip_rows else 1, ::-1 if flip_cols else 1]


def refuse_non_file(path: Path) -> None:
    """An output named by an existing folder, device, pipe or socket is an error; callers that add a suffix ask
    before they add it, or ``-o out`` would write ``out.png`` beside the folder. (Writes go to a temporary file
    renamed over the output: with --overwrite, run as root, that would replace /dev/null itself.)"""
    if path.is_dir():
        raise OutputPathError(f"{path} is a folder: name a file to write")
    if path.exists() and not path.is_file():
        raise OutputPathError(f"{path} is not a regular file (a device, pipe or socket): name a file to write")


def check_output(path: str | Path, overwrite: bool, inputs: Sequence[Path | None] = ()) -> Path:
    """Refuse to overwrite an existing file unless asked, and one of the command's ``inputs`` even then, and fail now
    on a path that cannot be written, before any slow work; create the output folder (noted in
    :data:`created_folders`)."""
    path = Path(path)
    refuse_non_file(path)
    if path.exists() and any(source is not None and _same_file(path, source) for source in inputs):
        raise OutputPathError(f"{path} is an input of this command: write to another file, so the input is kept "
                              "(--overwrite replaces earlier outputs only)")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise OutputPathError(f"cannot write {path}: {blocker} is a file, not a folder")
    try:
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        created_folders.extend(reversed(missing))
        _probe_writable(path)
    except OSError as e:
        raise OutputPathError(f"cannot write {path}: {e.strerror or e}") from None
    return path


# Folders check_output made for outputs, outermost first: a command that then fails removes the ones still empty
# (remove_empty_created_folders), so a typo'd input does not leave a new empty folder behind.
created_folders: list[Path] = []


def remove_empty_created_folders() -> None:
    """Remove, innermost first, the folders :func:`check_output` created that are still empty; forget them all."""
    for folder in reversed(created_folders):
        try:
            folder.rmdir()
        except OSError:  # not empty (something was written), or gone: keep it
            pass
    created_folders.clear()


def _probe_writable(path: Path) -> None:
    """Open the file for writing without changing it (a new one is removed again): permissions, read-only and
    pseudo file systems all answer here rather than after the work."""
    if path.exists():
        with open(path, "ab"):
            pass
        return
    with open(path, "xb"):
        pass
    path.unlink()


@contextmanager
def atomic_write(path: Path, overwrite: bool = True) -> Iterator[Path]:
    """Around a write: yields a temporary name beside ``path`` (same suffix, so writers pick the same format) that
    replaces ``path`` only once written whole. A full disk or a Ctrl-C leaves neither a truncated file nor a damaged
    older one; an OS failure becomes one clear message, not a traceback. Without ``overwrite``, a file that another
    program wrote at ``path`` meanwhile is kept (:func:`_publish_new`).

    Raises:
        OutputAppearedError: ``path`` appeared while the result was made (not with ``overwrite``).
        OutputPathError: the file could not be written.
    """
    temp = path.with_name(_partial_name(path))
    try:
        yield temp
        if overwrite:
            os.replace(temp, path)
        else:
            _publish_new(temp, path)
    except OSError as e:
        temp.unlink(missing_ok=True)
        raise OutputPathError(f"could not write {path}: {e.strerror or e}") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _publish_new(temp: Path, path: Path) -> None:
    """Give ``temp`` the name ``path`` only if no file has it (checked and named in one step, so two runs that both
    began before either wrote cannot replace each other's file); else under the first free ``<stem>-2<suffix>``...

    Raises:
        OutputAppearedError: ``path`` was taken; the result is under the other name.
    """
    for n in itertools.count(1):
        target = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        if _claim(temp, target):
            break
    if target != path:
        raise OutputAppearedError(f"{path} exists (written by another run while this one worked?) and is kept; this "
                                  f"result is in {target} (--overwrite replaces)", target)


_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}  # what link() says where none are made


def _claim(temp: Path, target: Path) -> bool:
    """Rename ``temp`` to ``target`` unless ``target`` exists: a hard link fails on an existing name, atomically;
    where links are not allowed (FAT, some network file systems) an exclusively created empty file reserves it."""
    try:
        os.link(temp, target)
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in _NO_LINKS:  # a full disk, a permission: the write failed
            raise
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        try:
            os.replace(temp, target)  # over the empty file this run made
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return True
    temp.unlink()
    return True


def write_rendered(path: Path, render: Callable[[io.BytesIO], None], overwrite: bool = True) -> None:
    """``render`` into memory, then the bytes to ``path`` through :func:`atomic_write`: writers that hide a full
    disk's OSError (matplotlib's PDF backend, ``torch.save``, numpy) would turn it into a traceback or a vague
    message."""
    buffer = io.BytesIO()
    render(buffer)
    write_whole(path, buffer.getbuffer(), overwrite)


def write_whole(path: Path, data: bytes | memoryview, overwrite: bool = True) -> None:
    """``data`` to ``path`` through :func:`atomic_write`, with Python's own file writes (a full disk is ENOSPC)."""
    with atomic_write(path, overwrite) as temp, open(temp, "wb") as file:
        file.write(data)


NAME_MAX = 255  # bytes in a file name on Linux, macOS and Windows file systems alike


def _partial_name(path: Path) -> str:
    """``.<stem>.partial-<pid><suffix>``, the stem cut so that the name fits where ``path``'s own name (up to the
    limit) fits: a 250-byte name failed only after the work was done."""
    tail = f".partial-{os.getpid()}{path.suffix}"
    room = NAME_MAX - 1 - len(os.fsencode(tail))
    # the name's own bytes, which need not be UTF-8 (Python holds the others as surrogates); a cut that would
    # split a UTF-8 character ends before it (the bytes an incremental decoder still waits on)
    stem = os.fsencode(path.stem)[:room]
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    decoder.decode(stem, final=False)
    stem = stem[: len(stem) - len(decoder.getstate()[0])]
    return f".{os.fsdecode(stem)}{tail}"


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """``size`` less an odd last row or column (either order of sides): video codecs want even sizes."""
    return size[0] // 2 * 2, size[1] // 2 * 2


def fitted_size(shape: tuple[int, int], max_size: int | None) -> tuple[int, int]:
    """The (h, w) whose long side is at most ``max_size``, aspect kept (``shape`` itself when ``None`` or small)."""
    h, w = shape[:2]
    if not max_size or max(h, w) <= max_size:
        return h, w
    s = max_size / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """HxWx3 RGB (or HxWx4 RGBA) float [0, 1], or HxW grey -> uint8 BGR (BGRA) for OpenCV."""
    return _opencv_order(quantize(image))


def _opencv_order(pixels: np.ndarray) -> np.ndarray:
    """RGB(A) pixels in OpenCV's BGR(A) order; grey as it is."""
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return pixels[..., ::-1]
    return pixels[..., [2, 1, 0, 3]] if pixels.ndim == 3 and pixels.shape[2] == 4 else pixels


def written_bits(path: Path, bits: int) -> int:
    """The bits a channel an image asked for with ``bits`` gets in ``path``'s format: 8 where it holds no more.

    Raises:
        VisError: ``bits`` is neither 8 nor 16.
    """
    if bits not in (8, 16):
        raise VisError(f"images are written with 8 or 16 bits a channel, not {bits}")
    return bits if path.suffix.lower() in DEEP_SUFFIXES else 8


def _same_file(path: Path, other: Path) -> bool:
    try:
        return path.samefile(other)
    except OSError:  # the input is gone or unreadable: it is not this file
        return False


def check_image_output(path: str | Path, overwrite: bool, inputs: Sequence[Path | None] = ()) -> Path:
    """:func:`check_output` for an image file, whose suffix must be one OpenCV writes."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        *most, last = sorted(IMAGE_SUFFIXES)
        raise OutputPathError(f"cannot write an image as {path.suffix or 'a file without suffix'}: use "
                              f"{', '.join(most)} or {last}")
    return check_output(path, overwrite, inputs)


def save_image(path: str | Path, image: np.ndarray, overwrite: bool = False, bits: int = 8) -> Path:
    """Write an HxWx3 RGB image, HxW (or HxWx1) grey or HxWx4 RGBA, float in [0, 1] or uint8 (see
    :func:`vis.engine._image_array.as_rgb`); the format follows the suffix. .png, .webp and .tif keep an alpha
    channel, the others show RGBA composited over white; .pgm is grey only (a colour image is written as its
    luminance). ``bits=16`` writes 16 bits a channel where the format holds them (.png, .tif, .ppm, .pgm; the
    others get 8).

    Raises:
        VisError: ``bits`` is neither 8 nor 16.
    """
    written_bits(Path(path), bits)  # a bad depth fails before any folder is made
    return write_image(check_image_output(path, overwrite), image, overwrite, bits)


def write_image(path: Path, image: np.ndarray, overwrite: bool, bits: int = 8) -> Path:
    """:func:`save_image` to a ``path`` checked before the work that made ``image``: not refused now if it exists
    (without ``overwrite``, another run wrote it meanwhile), but kept, and the image written beside it.

    Raises:
        OutputAppearedError: without ``overwrite``, ``path`` exists now; the image is in the error's ``kept_in``.
    """
    array = np.asarray(image)
    check_layout(array)
    pixels = unit_floats(array)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    elif pixels.ndim == 3 and pixels.shape[2] == 4 and path.suffix.lower() not in ALPHA_SUFFIXES:
        pixels = as_rgb(pixels)
    pixels = _opencv_order(quantize(pixels, written_bits(path, bits)))
    if path.suffix.lower() in GREY_ONLY_SUFFIXES and pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    ok, buf = cv2.imencode(path.suffix.lower(), pixels)
    if not ok:
        raise OutputPathError(f"could not encode {path} as {path.suffix.lower()}")
    data = buf.data
    if path.suffix.lower() in (".tif", ".tiff") and pixels.ndim == 3 and pixels.shape[2] == 4:
        from vis.engine._tiff import with_alpha_tag

        data = with_alpha_tag(buf.tobytes())  # so that viewers see the fourth channel as transparency
    write_whole(path, data, overwrite)  # not numpy's tofile, whose full disk has no errno
    return path
