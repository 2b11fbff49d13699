"""`vis dream`'s runs: an image, a zoom video, a video file or a webcam, with a progress line; what a run reports."""

from __future__ import annotations

import collections
import contextlib
import math
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import typer

from vis._text import clock, counted
from vis.cli._app import end_progress, note_grey_only, progress_interval, progress_line
from vis.engine._dream_setup import DreamSetup
from vis.errors import Interrupted, OutputPathError


class Progress:
    """One-line progress on stderr: frames, fps, ETA; or, for a still image, octave, step and objective, with an ETA
    when the octaves' ``octave_pixels`` (smallest first) are given."""

    def __init__(self, total: int = 0, label: str = "frame", enabled: bool = True,
                 octave_pixels: Sequence[int] = ()):
        self.total, self.label, self.enabled = total, label, enabled
        self.start = time.perf_counter()
        self.done = 0
        self._last_tile = -math.inf  # when a tile's progress was last shown
        self._last_frame = -math.inf  # when a frame's was
        self.octave_pixels = list(octave_pixels)

    def fps(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def frame(self) -> None:
        """The first frame, the last, and between them a few updates a second on a terminal, one every 5 s in a log
        (a line a frame made a log of a long video as long as the video)."""
        self.done += 1
        now = time.perf_counter()
        shown = self.done == 1 or self.done == self.total or now - self._last_frame >= progress_interval()
        if not self.enabled or not shown:
            return
        self._last_frame = now
        fps = self.fps()
        total = f"/{self.total}" if self.total else ""
        eta = f"  ETA {clock((self.total - self.done) / fps)}" if self.total and fps > 0 else ""
        progress_line(f"{self.label} {self.done}{total}  {fps:.2f} fps{eta}")

    def step(self, p: Any) -> None:
        if self.enabled:
            progress_line(self._where(p) + f"  objective {p.value:.4g}" + self._eta(p))
            self._last_tile = time.perf_counter()

    def tile(self, p: Any) -> None:
        """Within a tiled step: a few updates a second on a terminal, one every 5 s in a log."""
        now = time.perf_counter()
        if self.enabled and now - self._last_tile >= progress_interval():
            progress_line(self._where(p) + f"  tile {p.tile}/{p.tiles}" + self._eta(p))
            self._last_tile = now

    @staticmethod
    def _where(p: Any) -> str:
        return f"octave {p.octave + 1}/{p.octaves} ({p.shape[1]}x{p.shape[0]})  step {p.iteration + 1}/{p.iterations}"

    def _eta(self, p: Any) -> str:
        """Time left for a still image, taking a step's time as its octave's pixels (a 4000x3000 photo's last octave
        is half of the work); none when the octaves are not known."""
        if len(self.octave_pixels) != p.octaves:
            return ""
        steps = p.iteration + (p.tile / p.tiles if p.tiles else 1.0)  # of this octave, done
        done = p.iterations * sum(self.octave_pixels[:p.octave]) + steps * self.octave_pixels[p.octave]
        total = p.iterations * sum(self.octave_pixels)
        elapsed = time.perf_counter() - self.start
        return f"  ETA {clock(elapsed / done * (total - done))}" if done > 0 else ""

    def end(self) -> None:
        if self.enabled:
            end_progress()


def run_image(setup: DreamSetup, image: Any, output: Path, config: Any, max_size: Optional[int], seed: Optional[int],
              overwrite: bool, quiet: bool = False, alpha: Any = None, bits: int = 8) -> tuple[Path, tuple[int, int]]:
    """Dream ``image`` (HxWx3 float RGB, as loaded) into the image file ``output``, with the input's ``alpha``
    (HxW, or None) put back: a cut-out stays cut out (composited over white where the format has no alpha). ``bits``:
    the input's depth (:attr:`vis.engine._images.Still.bits`), kept where the format holds it, said where not.
    Returns the path written and the (width, height) dreamed: ``max_size``'s fit of the input's."""
    import numpy as np

    from vis.engine._dream import dream, fit_max_size, octave_sizes
    from vis.engine._images import check_output, with_alpha, write_image, written_bits

    check_output(output, overwrite)
    if written_bits(output, bits) < bits:  # before the dream, so a run that wants them can stop and take a .png
        typer.echo(f"note: {output.suffix} holds 8 bits a channel: the input's finer levels are lost (.png and .tif "
                   "keep 16)", err=True)
    note_grey_only(output, setup.model_name)
    image = fit_max_size(image, max_size)
    octaves = [h * w for h, w in reversed(octave_sizes(image.shape[:2], config))]
    progress = Progress(enabled=not quiet, octave_pixels=octaves)
    out = dream(setup.backend, image, config, rng=np.random.default_rng(seed), progress=progress.step,
                tile_progress=progress.tile)
    progress.end()
    return write_image(output, with_alpha(out, alpha), overwrite, bits), (out.shape[1], out.shape[0])


def run_zoom(setup: DreamSetup, image: Any, output: Path, config: Any, frames: int, zoom: float, fps: float,
             max_size: Optional[int], seed: Optional[int], overwrite: bool,
             quiet: bool = False) -> tuple[int, tuple[int, int], tuple[int, int], float]:
    """Zoom into ``image`` (HxWx3 float RGB, as loaded), dreaming every frame, into the video ``output``; returns
    (frames written, their (width, height), the dream's (width, height): odd sides lose a row or column, frames
    dreamed a second).

    Raises:
        Interrupted: Ctrl-C, saying what ``output`` holds.
        OutputPathError: a write failed (a full disk), saying what ``output`` holds.
    """
    import numpy as np

    from vis.engine._dream import dream_zoom, fit_max_size
    from vis.engine._video_sink import VideoSink, written_size
    from vis.engine._write_behind import WriteBehind

    image = fit_max_size(image, max_size)
    frame = (image.shape[1], image.shape[0])
    w, h = written_size(output, frame)  # zoomed at the size written, so the sink need not crop each frame
    image = image[:h, :w]
    progress = Progress(frames, enabled=not quiet)
    sink = None
    with stopped_runs(output, lambda: sink):
        with contextlib.ExitStack() as stack:
            sink = stack.enter_context(VideoSink(output, fps, (image.shape[1], image.shape[0]), overwrite))
            stack.callback(progress.end)  # after the writer's last frames
            writer = stack.enter_context(WriteBehind(sink.write, on_written=progress.frame))  # encodes while we dream
            for out in dream_zoom(setup.backend, image, frames, zoom, config, rng=np.random.default_rng(seed)):
                writer.submit(out)
    return sink.frames_written, sink.size, frame, progress.fps()


def run_video(setup: DreamSetup, source: Any, output: Optional[Path], config: Any, video: Any, max_size: Optional[int],
              seed: Optional[int], overwrite: bool, preview: bool, virtual_cam: bool, max_frames: int,
              quiet: bool = False, served: Any = None, stopped: Any = None,
              record: Optional[str] = None) -> tuple[int, float, tuple[int, int], int]:
    """Dream every frame of ``source`` into ``output`` / a window / a virtual camera / the ``served`` stream (a
    :class:`vis.engine._served.ServedStream`); returns (frames, fps, the
    written frame size (width, height): odd sides lose a row or column, frames a GIF left out). ``stopped``: what
    ``output`` holds, a stopped dream to go on with (:class:`vis.engine._resume.StoppedDream`; its frames come
    first, and count among those returned). ``record``: what the output is a dream of, kept in it for --resume
    (:func:`vis.engine._resume.dream_record`).

    Raises:
        Interrupted: Ctrl-C, saying what ``output`` holds.
        OutputPathError: a write failed (a full disk), saying what ``output`` holds.
    """
    import itertools

    import numpy as np

    from vis.engine._dream import dream_frames, fitted_size, uses_device_loop
    from vis.engine._display import Preview, VirtualCamera
    from vis.engine._video_sink import VideoSink, recording_rate
    from vis.engine._write_behind import WriteBehind

    # The device loop converts frames on the device: hand them over as decoded (uint8 BGR) and write them back so.
    source.raw = uses_device_loop(setup.backend, fitted_size((source.height, source.width), max_size), config)
    total = min(source.frame_count or max_frames, max_frames) if max_frames else source.frame_count
    progress = Progress(total, enabled=not quiet)
    frames = itertools.islice(source, max_frames) if max_frames else iter(source)
    sink = None
    previous = _kept_frame(source, output, stopped) if stopped is not None else None  # before the sink replaces it
    resumable = not (source.live or source.animated) and output is not None and output.suffix.lower() != ".gif"
    with stopped_runs(output, lambda: sink, shown=lambda: progress.done, resumable=resumable), \
            contextlib.ExitStack() as stack:
        size = (source.width, source.height)
        sink = stack.enter_context(VideoSink(output, recording_rate(source), size, overwrite,
                                             source.pixel_aspect, resume=stopped, record=record)) if output else None
        stack.callback(progress.end)  # after the writer's last frames
        writer = None
        if sink is not None:
            # frames are encoded while the next is dreamed; progress counts frames written, so a killed run's file
            # holds all that the progress line showed but the last (whose fragment the next frame closes)
            writer = stack.enter_context(WriteBehind(lambda timed: sink.write(*timed), on_written=progress.frame))
        window = stack.enter_context(Preview()) if preview else None
        cam = stack.enter_context(VirtualCamera(source.width, source.height, source.fps)) if virtual_cam else None
        # a live source's recording is timed by when each dream was made (the camera's fps is not the dream's); a
        # file's frames keep their own times (a variable rate) and an animation's its delays (a pause at the end)
        clock, numbering = seconds_since_first(), itertools.count()

        def timing() -> tuple[Optional[float], Optional[float]]:
            """(start, duration) in seconds of the next frame written."""
            if source.live:
                return clock(), None
            index = next(numbering)
            return source.frame_time(index), source.frame_duration(index)
        recent: collections.deque[float] = collections.deque(maxlen=10)  # the window shows the rate now
        for out in dream_frames(setup.backend, frames, config, video, max_size=max_size, rng=np.random.default_rng(seed),
                                live=source.live, previous=previous):
            recent.append(time.perf_counter())
            if writer is not None:
                writer.submit((out, *timing()))
            else:
                progress.frame()
            if cam is not None:
                cam.send(out)
            if served is not None:
                served.send(out)
            rate = f"{(len(recent) - 1) / (recent[-1] - recent[0]):.1f} fps" if len(recent) > 1 else ""
            if window is not None and not window.show(out, rate):
                break
        if writer is not None and source.held_to is not None:  # the input ends in frames that could not be decoded
            writer.close()
            sink.hold_last(source.held_to)
    if sink is None:
        return progress.done, progress.fps(), (source.width, source.height), 0
    return sink.frames_held, progress.fps(), sink.size, sink.frames_dropped


def _kept_frame(source: Any, output: Path, stopped: Any) -> Optional[tuple[Any, Any]]:
    """The input frame before the first that ``source`` gives after a resumed seek and the last frame of the
    stopped dream ``output`` holds (its dream), in the layout and size of the source's frames: where the resumed
    dream goes on from. None where either is missing (the dream then starts afresh there)."""
    import cv2

    from vis.engine._resume import last_frame
    from vis.engine._video import from_bgr

    dreamed = last_frame(output, stopped)
    if source.frame_before is None or dreamed is None:
        return None
    before = source.frame_before
    if dreamed.shape != before.shape:  # odd sides were cropped when written
        dreamed = cv2.resize(dreamed, (before.shape[1], before.shape[0]), interpolation=cv2.INTER_LINEAR)
    return (before, dreamed) if source.raw else (from_bgr(before), from_bgr(dreamed))


def kept_note(output: Optional[Path], sink: Any, exact: bool = True) -> str:
    """What a stopped run left behind in ``output``, its ``sink`` closed (one that got no frame removed the file);
    nothing when the sink never opened (a file there is not this run's). ``exact``: the sink's count is what the
    file holds (not after a failed write, which may have cut the frames before it short)."""
    if output is None or sink is None:
        return ""
    if not sink.frames_held or not output.exists():
        return "; no frame was finished, nothing written"
    done = f"the {counted(sink.frames_held, 'frame')}" if exact else "the frames"
    return f"; {output} holds {done} done so far"


@contextlib.contextmanager
def stopped_runs(output: Optional[Path], sink: Callable[[], Any], shown: Optional[Callable[[], int]] = None,
                 resumable: bool = False):
    """Ctrl-C, or a write that failed (a full disk), inside a video run: one message that says what the output holds.

    Enter it outside the sink's ``with``, so that the file is finished and ``sink().frames_held`` counts its
    frames by the time the message is made. ``shown``: frames dreamed, for a run without ``output``. ``resumable``:
    say that --resume goes on with what the output holds.
    """
    try:
        yield
    except KeyboardInterrupt:
        done = f" after {counted(shown(), 'frame')} dreamed" if output is None and shown is not None else ""
        kept = sink() is not None and sink().frames_held > 0
        again = " (the same command with --resume goes on from there)" if resumable and kept else ""
        raise Interrupted(f"interrupted{done}{kept_note(output, sink())}{again}") from None
    except OSError as e:
        if e.filename is None or output is None:  # not about a path the user gave: a real fault, keep its traceback
            raise
        from vis.engine._video import has_a_frame

        if sink() is not None and output.exists() and has_a_frame(output) is False:
            output.unlink()  # the disk took a header and half a frame: no player opens it
        raise OutputPathError(f"{e.filename}: {e.strerror or e}{kept_note(output, sink(), exact=False)}") from e


def seconds_since_first() -> Callable[[], float]:
    """A clock that reads 0.0 at its first call and the seconds since then after."""
    start: float | None = None

    def now() -> float:
        nonlocal start
        t = time.perf_counter()
        if start is None:
            start = t
        return t - start

    return now
