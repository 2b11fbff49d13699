"""What a finished dream run reports: the summary of a zoom or video dream, the input's sound copied into the
output, and a source that ended before its frames did (a cut file, a lost camera)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from vis._text import counted
from vis.engine._animated import GIF_MAX_FPS
from vis.engine._video import VideoSourceError


def crop_note(written: tuple[int, int], frame: tuple[int, int]) -> str:
    """What the summary says when the video's (width, height) ``written`` is smaller than the frames it was given."""
    if tuple(written) == tuple(frame):
        return ""
    return f"; cropped from {frame[0]}x{frame[1]}: video encoders need even sides"


def zoom_summary(output: Path, frames: int, size: tuple[int, int], dreamed: tuple[int, int], zoom: float, fps: float,
                 rate: float) -> str:
    """The line a zoom video ends with: its ``frames`` of (width, height) ``size`` at ``fps``, cropped from
    ``dreamed``, dreamed at ``rate`` frames a second."""
    w, h = size
    return (f"wrote {output} ({counted(frames, 'frame')}, {w}x{h} at {fps:g} fps, zoom {zoom:g} per frame, "
            f"{rate:.2f} fps dreamed{crop_note(size, dreamed)})")


def image_summary(output: Path, size: tuple[int, int], given: tuple[int, int], max_size: Optional[int],
                  source: str = "") -> str:
    """The line a dreamed image ends with: its (width, height) ``size``, the input's ``given`` where --max-size made
    it smaller, and ``source`` where it is a video's frame ("the frame 1.50 s into clip.mp4")."""
    w, h = size
    fitted = f", the input's {given[0]}x{given[1]} shrunk to {max_size} a side" if tuple(size) != tuple(given) else ""
    return f"wrote {output} ({w}x{h}{fitted}" + (f"; {source})" if source else ")")


_STRETCHES_SHOWN = 3  # damaged stretches of the input named in the note; the rest are counted


@dataclass(frozen=True)
class VideoDreamRun:
    """A video or webcam dream that has run to its end (or was stopped by the window), to be reported.

    Attributes:
        source: the frame source it read (a video file's, an animation's or a webcam's), closed or not.
        input: the video file (``None`` for a webcam or a stream, which the source names).
        output: the video written (``None``: shown in a window or sent to a virtual camera only).
        frames: frames written (or shown, without ``output``).
        rate: frames dreamed a second.
        size: (width, height) of the frames written: odd sides lose a row or column.
        gif_dropped: frames a GIF output left out, as they came sooner than a GIF can show them.
        kept: frames of a stopped dream that this run went on with (--resume), among ``frames``.
    """

    source: Any
    input: Optional[Path]
    output: Optional[Path]
    frames: int
    rate: float
    size: tuple[int, int]
    gif_dropped: int = 0
    kept: int = 0

    def finish(self, quiet: bool = False) -> tuple[list[str], Optional[VideoSourceError]]:
        """Copy a video file's sound into the output, and say what the run did.

        Returns:
            The lines to print (the summary, frames a webcam skipped, what became of the sound; ``quiet`` leaves
            out that the input had none), and the error to raise after them when the source ended early.
        """
        lines = [self.summary()]
        if (short := self._short_section()) is not None:
            lines.append(short)
        if self.source.live and self.source.dropped:  # why a 30 fps camera gives a 4 fps recording
            lines.append(f"{self.source.name}: {counted(self.source.dropped, 'frame')} skipped, as they came "
                         "while a dream was made (the newest frame is always the one dreamed)")
        lines += self._lost_notes()
        lines += self._damage_notes()
        if (audio := self._copy_audio()) is not None:
            from vis.engine._audio import NO_AUDIO

            if not (quiet and audio == NO_AUDIO):
                lines.append(audio)
        return lines, self.ended_early()

    def summary(self) -> str:
        """What was written (its frames, size and timing), or what was shown."""
        source, (w, h) = self.source, self.size
        if self.output is not None and source.live:
            return (f"wrote {self.output} ({counted(self.frames, 'frame')}, {w}x{h}, timed as they were dreamed: "
                    f"{self.rate:.2f} fps)")
        if self.output is None:  # a window or a virtual camera: what was shown
            return f"{counted(self.frames, 'frame')} dreamed at {self.rate:.2f} fps"
        # the output keeps the input's size (the dream is scaled back up), less odd rows and columns
        cropped = crop_note(self.size, (source.width, source.height))
        # a GIF leaves out frames that come sooner than it can show them (a 60 fps input)
        rate_kept = ", variable frame rate kept," if source.variable_rate else f" at {source.fps:g} fps,"
        timing = (f"; {self.gif_dropped} of the {source.fps:g} fps input's frames left out, as a GIF plays at most "
                  f"{GIF_MAX_FPS} a second;" if self.gif_dropped else rate_kept)
        kept = f" ({self.kept} kept from the stopped dream)" if self.kept else ""
        return (f"wrote {self.output} ({counted(self.frames, 'frame')}{kept}, {w}x{h}{timing} {self.rate:.2f} fps "
                f"dreamed{cropped}{self._section_note()})")

    def _section(self) -> Optional[tuple[float, float]]:
        """(start, end) in seconds of the input's frames dreamed, where only a section of a video file was."""
        if self.input is None or self.source.animated:
            return None
        return self.source.section()

    def _section_note(self) -> str:
        section = self._section()
        return f"; the input's {section[0]:.2f}-{section[1]:.2f} s" if section is not None else ""

    def _short_section(self) -> Optional[str]:
        """What the summary adds when the video ended before the section asked for did."""
        section, source = self._section(), self.source
        if section is None or source.duration_asked is None or not source.reached_end or source.truncated:
            return None  # no section's length asked for, not the file's end that stopped it, or a cut file (said)
        asked, length = source.duration_asked, section[1] - section[0]
        if length >= asked - 0.5 / source.fps:
            return None
        return f"the input ends {length:.2f} s after the section's start, before the {asked:g} s asked for"

    def ended_early(self) -> Optional[VideoSourceError]:
        """The error that says the source stopped before its end (a truncated file, a camera lost), and what was
        kept; ``None`` when it did not."""
        source = self.source
        kept = (f"{self.output} holds the {counted(self.frames, 'frame')} done" if self.output is not None
                else f"{counted(self.frames, 'frame')} dreamed")
        if source.truncated:
            return VideoSourceError(f"{self.input} ended after {source.frames_read} of {source.frame_count} frames "
                                    f"(truncated or corrupt); {kept}")
        if source.lost:  # the camera ended the run, not the user
            why = ("unplugged, or taken by another program?" if isinstance(source.camera, int)
                   else "the sender stopped, or the connection dropped?")
            return VideoSourceError(f"{source.name} {source.lost} after "
                                    f"{counted(source.frames_read, 'frame')} ({why}); {kept}")
        return None

    def _lost_notes(self) -> list[str]:
        """What of the input's pictures the written video cannot hold: transparency, levels finer than 8 bits."""
        if self.output is None:
            return []
        components = self.source.pixel_components  # as the source's container said (empty where unknown)
        notes = []
        if any(alpha for _, alpha in components):
            notes.append(f"note: {self.input.name} has transparency, which the dreamed video does not keep "
                         "(it is written opaque)")
        if (bits := max((bits for bits, _ in components), default=8)) > 8:
            notes.append(f"note: {self.input.name} has {bits} bits a channel; the dreamed video has 8")
        return notes

    def _damage_notes(self) -> list[str]:
        """What the run read past in a damaged input: its stretches without a frame that could be decoded, and the
        one the section asked for began in."""
        source, notes = self.source, []
        if source.start_damaged is not None:
            start, end = source.start_damaged
            notes.append(f"warning: {self.input.name} is damaged at {start:.2f}-{end:.2f} s, where the section asked "
                         f"for begins: it begins at {source.start_time:.2f} s, with the first frame after the damage")
        if not (stretches := source.damaged):
            return notes
        lost = sum(round((end - start) * source.fps) for start, end in stretches)
        where = ", ".join(f"{start:.2f}-{end:.2f} s" for start, end in stretches[:_STRETCHES_SHOWN])
        if len(stretches) > _STRETCHES_SHOWN:
            where += f" and {len(stretches) - _STRETCHES_SHOWN} more"
        what = (": the frame before each stretch is held in their place, so the sound stays in step"
                if self.output is not None else " and were skipped")
        notes.append(f"warning: {counted(lost, 'frame')} of {self.input.name} could not be decoded (damaged at "
                     f"{where}){what}")
        return notes

    def _copy_audio(self) -> Optional[str]:
        """The input video's sound copied into the output (a cut input's too: the sound of the frames there were);
        the report of it, or ``None`` where there is nothing to copy into or from (an animation has no sound)."""
        if self.input is None or self.output is None or self.source.animated:
            return None
        from vis.engine._audio import copy_audio

        return copy_audio(self.input, self.output, self.source.start_time)
