"""`vis dream`'s checks before any work: the output against the input, and options that would do nothing (the sizes
the network will see are worked out in :mod:`vis.engine._dream_sizes`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from vis.engine._animated import GIF_MAX_FPS, GIF_MIN_FPS
from vis.errors import VisError


MAX_FPS = 1000  # players and containers give up long before; 1e9 wrote a 1/1e9 time base


def check_output_for(kind: str, input: Optional[Path], output: Optional[Path], zoom_frames: int, zoom: float,
                     fps: float, overwrite: bool, guide: Optional[Path] = None, resume: bool = False) -> None:
    """Fail before any work on an output that does not fit the input (``kind``: image, video or webcam): its kind,
    suffix, place, the input itself or the guide image, or the zoom settings. ``resume``: the output may exist (a
    stopped dream to go on with)."""
    from vis.engine._images import check_output
    from vis.errors import OutputExistsError
    from vis.engine._media_kinds import is_image_path, is_video_path
    from vis.engine._video_sink import RESUMABLE_NOTE, RESUMABLE_SUFFIXES, WRITTEN_VIDEO_SUFFIXES, check_video_suffix

    if output is not None and output.is_dir():
        raise VisError(f"{output} is a folder: name an image or video file (a folder is the output of a folder input)")
    if output is not None and not (is_image_path(output) or is_video_path(output)):
        raise VisError(f"cannot tell the output kind of {output}: use an image (.png, .jpg) or video (.mp4, .avi, .gif) "
                       "suffix")
    if kind == "image":
        if output is None:
            raise VisError("an image input needs -o OUTPUT (an image, or a video with --zoom-frames N)")
        if is_video_path(output) and not zoom_frames:
            kind_of = "an animated GIF" if output.suffix.lower() == ".gif" else "a video"
            raise VisError(f"{output} is written as {kind_of}: pass --zoom-frames N (N >= 1) to zoom into the dream, "
                           "or write an image (.png, .jpg)")
        if zoom_frames and not is_video_path(output):
            raise VisError(f"--zoom-frames writes a video: use a video output ({', '.join(WRITTEN_VIDEO_SUFFIXES)}), not "
                           f"{output.suffix or output.name}")
    elif output is not None and not is_video_path(output):
        raise VisError(f"a {kind} input makes a video: use a video output ({', '.join(WRITTEN_VIDEO_SUFFIXES)}), not "
                       f"{output.suffix or output.name}")
    elif zoom_frames:
        raise VisError(f"--zoom-frames zooms into a still image; a {kind} input is dreamed frame by frame")
    if zoom_frames and not 0.0 <= zoom < 1.0:
        raise VisError(f"--zoom must be at least 0 and below 1 (0.05 = 5% per frame), got {zoom:g}")
    if zoom_frames and not (0.0 < fps <= MAX_FPS):
        raise VisError(f"--fps must be a positive number of frames per second up to {MAX_FPS}, got {fps:g}")
    if zoom_frames and output is not None and output.suffix.lower() == ".gif":
        if fps > GIF_MAX_FPS:
            raise VisError(f"a GIF plays at most {GIF_MAX_FPS} frames a second (its delays are in hundredths, and "
                           f"browsers slow shorter ones down): use --fps {GIF_MAX_FPS} or less, or a video output")
        if fps < GIF_MIN_FPS:
            raise VisError(f"a GIF frame shows at most {1 / GIF_MIN_FPS:g} s here: use --fps {GIF_MIN_FPS} or more")
    if output is None:
        return
    if is_video_path(output):
        check_video_suffix(output)
    resumable = output.suffix.lower() in RESUMABLE_SUFFIXES
    if resume and kind == "video" and not resumable:  # before the stopped file is read: a GIF holds no record of its dream to check
        raise VisError(f"cannot go on with {output}: {RESUMABLE_NOTE} (a GIF is written whole); dream into a new "
                       "file, or --overwrite to start again")
    if kind == "video" and output.exists() and output.samefile(input):
        raise VisError(f"{output} is the input: a video cannot be dreamed into itself while it is read; choose another -o")
    try:
        check_output(output, overwrite or resume, [input, guide])
    except OutputExistsError:
        if kind != "video" or not resumable:
            raise
        raise OutputExistsError(f"{output} exists; pass --overwrite to replace it, or --resume to go on with a dream "
                                "of this video that was stopped") from None


FRAME_OPTIONS = {"blend": "--blend", "iterations_per_frame": "--iterations-per-frame",
                 "octaves_per_frame": "--octaves-per-frame", "flow": "--flow", "flow_size": "--flow-size",
                 "max_frames": "--max-frames", "preview": "--preview", "virtual_cam": "--virtual-cam", "serve": "--serve"}
ZOOM_OPTIONS = {"zoom": "--zoom", "fps": "--fps"}
SECTION_OPTIONS = {"start": "--start", "duration": "--duration"}
# what --demo takes from the command line; anything else typed beside it would be ignored, so it is refused
DEMO_OPTIONS = {"demo", "output", "backend", "provider", "threads", "seed", "overwrite", "quiet"}


# what only a frame after the first uses: the flow that warps the last dream onto it, and its own dream settings
LATER_FRAME_OPTIONS = {"flow": "--flow", "flow_size": "--flow-size", "iterations_per_frame": "--iterations-per-frame",
                       "octaves_per_frame": "--octaves-per-frame"}


def check_options_apply(kind: str, zoom_frames: int, given: set[str], octaves: int, octaves_per_frame: int,
                        blend: float = 0.8, flow: str = "dis") -> None:
    """Refuse options that would do nothing for this input (``kind``: image, folder, video, webcam or frame: a video
    file's frame dreamed as a still) or beside the other options, so that a setting the user typed is never silently
    ignored."""
    if kind == "folder" and zoom_frames:
        raise VisError("--zoom-frames zooms into one image: give an image file, not a folder")
    if kind != "folder" and "skip_existing" in given:
        raise VisError("--skip-existing keeps the dreams a folder input already has in its output folder; for one "
                       "output, an existing file is kept unless --overwrite")
    if {"skip_existing", "overwrite"} <= given:
        raise VisError("--skip-existing keeps existing dreams and --overwrite replaces them: choose one")
    if "resume" in given and kind != "video":
        told = " (--skip-existing goes on with a folder)" if kind == "folder" else ""
        raise VisError(f"--resume goes on with a stopped dream of a video file, written to a video{told}")
    if {"resume", "overwrite"} <= given:
        raise VisError("--resume keeps the frames the output holds and --overwrite replaces them: choose one")
    frame_flags = [flag for name, flag in FRAME_OPTIONS.items() if name in given]
    zoom_flags = [flag for name, flag in ZOOM_OPTIONS.items() if name in given]

    def listed(flags: list[str], one: str, many: str) -> str:
        return f"{', '.join(flags)} {one if len(flags) == 1 else many}"

    section_flags = [flag for name, flag in SECTION_OPTIONS.items() if name in given]
    if kind in ("image", "folder", "webcam") and section_flags:
        whole = {"webcam": "a webcam or a live stream is dreamed as it comes", "image": "an image has no time",
                 "folder": "a folder's images have no time (a video in it is dreamed on its own)"}[kind]
        raise VisError(f"{listed(section_flags, 'cuts', 'cut')} a section of a video file; {whole}")
    if kind == "frame" and "duration" in given:
        raise VisError("--duration is a section's length, and an image output holds one frame: that at --start (or "
                       "the first); write a video (.mp4) to dream a section")
    if kind == "frame" and frame_flags:
        raise VisError(f"{listed(frame_flags, 'applies', 'apply')} to a video output; an image output holds one frame "
                       "of the video, dreamed as a still")
    kind = "image" if kind in ("folder", "frame") else kind  # a folder's images, a video's frame: stills
    if kind == "image" and frame_flags:
        raise VisError(f"{listed(frame_flags, 'applies', 'apply')} to a video or webcam input only; an image is dreamed "
                       "as a still" + (" and zoomed" if zoom_frames else ""))
    if kind == "image" and not zoom_frames and zoom_flags:
        raise VisError(f"{listed(zoom_flags, 'sets', 'set')} the zoom video of --zoom-frames N: add --zoom-frames, or "
                       "drop " + ("it" if len(zoom_flags) == 1 else "them"))
    if kind != "image" and zoom_flags:
        timing = ""
        if "--fps" in zoom_flags:  # the frame rate the user may have meant to change: said where it comes from
            timing = ("; a video keeps its own frame rate" if kind == "video" else
                      "; a webcam recording is timed as it is dreamed")
        raise VisError(f"{listed(zoom_flags, 'applies', 'apply')} to a zoom video only (an image with --zoom-frames "
                       f"N){timing}")
    later_flags = [flag for name, flag in LATER_FRAME_OPTIONS.items() if name in given]
    if kind != "image" and blend == 0.0 and later_flags:  # blend 0: every frame is dreamed as the first one
        raise VisError(f"--blend 0 dreams every frame afresh at --octaves and --iterations, without the last dream: "
                       f"drop {', '.join(later_flags)} (or raise --blend)")
    if kind != "image" and flow == "none" and "flow_size" in given:
        raise VisError("--flow-size sets the size of the optical flow, which --flow none turns off: drop --flow-size")
    if kind != "image" and octaves_per_frame > octaves:
        raise VisError(f"--octaves-per-frame {octaves_per_frame} is above --octaves {octaves}: frames after the "
                       "first start from the last dream and need no more octaves than the first")
