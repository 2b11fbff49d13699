"""`vis dream`: DeepDream on an image, a zoom video, a video file or a webcam; `bench_dream` for `vis bench dream`."""

from __future__ import annotations

import contextlib
import re
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import typer

from vis.cli._app import VisTyper, end_progress, fail, progress_line
from vis.engine._dream import VideoDreamConfig  # its defaults are the video options' defaults
from vis.errors import Interrupted, UnknownNameError, VisError

WEIGHTS_HELP = "imagenet (published weights), random (seeded) or a state_dict file. Default: imagenet."
DEMO_DIR = Path("vis-out")


# ---- helpers (no library logic here: choose, build, report) ----------------------------------------------------

def default_model() -> tuple[str, str | None]:
    """GoogLeNet when its ImageNet weights are here, otherwise EfficientNet-Lite0 (real weights ship offline)."""
    from vis.models import model_spec

    if model_spec("googlenet").pretrained.available_locally():
        return "googlenet", None
    return "efficientnet_lite0", ("GoogLeNet's ImageNet weights are not here; dreaming with EfficientNet-Lite0 "
                                  "(real ImageNet weights). Pick another with --model/--weights.")


def peak_memory_mib() -> float:
    """Peak resident memory of this process (ru_maxrss: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


@dataclass
class DreamSetup:
    model_name: str
    weights: str
    objective: Any
    backend: Any


def build_setup(model: Optional[str], weights: Optional[str], objective: Optional[str], guide: Optional[Path],
                backend: str, provider: str, threads: int, guide_size: Optional[int], echo=typer.echo, *,
                loop: str = "auto", cuda_graph: bool = False,
                input_sizes: Sequence[tuple[int, int]] = ()) -> DreamSetup:
    """Model, objective (guided when ``guide`` is given) and backend, as the options ask.

    ``input_sizes``: the (h, w) inputs the run will feed the network; a neuron position outside its layer's map at
    any of them is refused before the weights load (ORT would dream a zero objective there, torch would fail).
    """
    from vis.engine import load_image, make_backend
    from vis.engine._dream import check_dreamable
    from vis.exporters import parse_objective
    from vis.exporters._objectives import ObjectiveError, check_neuron_positions
    from vis.models import get_model, model_spec

    chosen_for_user = model is None and weights in (None, "imagenet")
    if chosen_for_user:
        model, note = default_model()
        if note:
            echo(note)
    model = model or "googlenet"
    weights = weights or "imagenet"
    spec = model_spec(model)
    check_dreamable(model)
    spec_text = spec.default_layer if objective is None else objective  # "" reaches the parser, which refuses it
    if guide is not None and not spec_text.startswith("guide:"):
        if not re.fullmatch(r"[\w.]+", spec_text):
            raise VisError(f"--guide pulls one whole layer toward the guide image's features: give --objective LAYER "
                           f"(e.g. {spec.default_layer}), not {spec_text!r}")
        spec_text = f"guide:{spec_text}"
    try:
        obj = parse_objective(spec_text, model)  # before the weights load: a typo fails at once
    except UnknownNameError as e:  # most likely a layer of the model the user had in mind
        if chosen_for_user and objective is not None:
            raise VisError(f"{e} ({model} is the default model here; name another with -m, e.g. -m googlenet "
                           "-w random for GoogLeNet's layers with random weights)") from None
        raise
    try:
        check_neuron_positions(obj, model, sorted(input_sizes, key=lambda hw: (hw[0] * hw[1], hw)))
    except ObjectiveError as e:
        raise ObjectiveError(f"{e} (a dream feeds the network every octave and tile of the image; this is the "
                             "smallest: pick a position inside its map, or use fewer --octaves or a larger --tile)") from None
    guide_image = None
    if obj.needs_guide():
        if guide is None:
            raise VisError(f"objective {spec_text} needs a guide image: pass --guide IMAGE")
        guide_image = load_image(guide)
    net = get_model(model, weights)
    guide_feats = None if guide_image is None else compute_guide(net, obj.needs_guide(), guide_image, guide_size)
    be = make_backend(backend, model, net, obj, provider=provider, threads=threads, guide=guide_feats, weights=weights,
                      loop=loop, cuda_graph=cuda_graph)
    return DreamSetup(model, weights, obj, be)


def compute_guide(net: Any, layer: str, image: Any, max_size: Optional[int]) -> Any:
    """Guide features (C, H*W) of ``image`` at ``layer`` (torch forward)."""
    import torch

    from vis.engine._dream import fit_max_size
    from vis.exporters import guide_features

    image = fit_max_size(image, max_size or 224)
    x = torch.from_numpy(image.transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        (acts,) = net.forward_layers(x, [layer])
    return guide_features(acts).numpy().astype("float32")


def even_sized(image: Any) -> Any:
    """The image less a last odd row or column: video codecs want even sizes."""
    return image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]


def network_inputs(kind: str, input: Optional[Path], source: Any, max_size: Optional[int], zoom_frames: int,
                   config: Any, video: Any) -> list[tuple[int, int]]:
    """The (h, w) inputs the network will see: every octave (or tile) of the dreamed image, of the first video frame
    and of the later ones."""
    from vis.engine import load_image
    from vis.engine._dream import fitted_size, network_input_sizes

    if kind == "image":
        shape = fitted_size(load_image(input).shape[:2], max_size)
        shape = (shape[0] // 2 * 2, shape[1] // 2 * 2) if zoom_frames else shape
        return network_input_sizes(shape, config)
    shape = fitted_size((source.height, source.width), max_size)
    return network_input_sizes(shape, config) + network_input_sizes(shape, video.later(config))


class Progress:
    """One-line progress on stderr: frames, fps, ETA (or octave/iteration for a still image)."""

    def __init__(self, total: int = 0, label: str = "frame", enabled: bool = True):
        self.total, self.label, self.enabled = total, label, enabled
        self.start = time.perf_counter()
        self.done = 0

    def fps(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def frame(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        fps = self.fps()
        total = f"/{self.total}" if self.total else ""
        eta = ""
        if self.total and fps > 0:
            left = int((self.total - self.done) / fps)
            eta = f"  ETA {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}"
        progress_line(f"{self.label} {self.done}{total}  {fps:.2f} fps{eta}")

    def step(self, p: Any) -> None:
        if self.enabled:
            progress_line(f"octave {p.octave + 1}/{p.octaves} ({p.shape[1]}x{p.shape[0]})  step {p.iteration + 1}/"
                          f"{p.iterations}  objective {p.value:.4g}")

    def end(self) -> None:
        if self.enabled:
            end_progress()


# ---- the runs ---------------------------------------------------------------------------------------------------

def run_image(setup: DreamSetup, image_path: Path, output: Path, config: Any, max_size: Optional[int], seed: Optional[int],
              overwrite: bool, quiet: bool = False) -> Path:
    import numpy as np

    from vis.engine import load_image, save_image
    from vis.engine._dream import dream, fit_max_size
    from vis.engine._images import check_output

    check_output(output, overwrite)
    image = fit_max_size(load_image(image_path), max_size)
    progress = Progress(enabled=not quiet)
    out = dream(setup.backend, image, config, rng=np.random.default_rng(seed), progress=progress.step)
    progress.end()
    return save_image(output, out, overwrite=True)


def run_zoom(setup: DreamSetup, image_path: Path, output: Path, config: Any, frames: int, zoom: float, fps: float,
             max_size: Optional[int], seed: Optional[int], overwrite: bool, quiet: bool = False) -> int:
    import numpy as np

    from vis.engine import load_image
    from vis.engine._dream import dream_zoom, fit_max_size
    from vis.engine._video import VideoSink
    from vis.engine._write_behind import WriteBehind

    image = fit_max_size(load_image(image_path), max_size)
    image = even_sized(image)
    progress = Progress(frames, enabled=not quiet)
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(VideoSink(output, fps, (image.shape[1], image.shape[0]), overwrite))
        stack.callback(progress.end)  # after the writer's last frames
        writer = stack.enter_context(WriteBehind(sink.write, on_written=progress.frame))  # encodes while we dream
        for out in dream_zoom(setup.backend, image, frames, zoom, config, rng=np.random.default_rng(seed)):
            writer.submit(out)
    return sink.frames_written


def run_video(setup: DreamSetup, source: Any, output: Optional[Path], config: Any, video: Any, max_size: Optional[int],
              seed: Optional[int], overwrite: bool, preview: bool, virtual_cam: bool, max_frames: int,
              quiet: bool = False) -> tuple[int, float, str]:
    """Dream every frame of ``source`` into ``output`` / a window / a virtual camera; returns (frames, fps, the
    written frame size as WxH: odd sides lose a row or column)."""
    import itertools

    import numpy as np

    from vis.engine._dream import dream_frames, fitted_size, uses_device_loop
    from vis.engine._video import Preview, VideoSink, VirtualCamera
    from vis.engine._write_behind import WriteBehind

    # The device loop converts frames on the device: hand them over as decoded (uint8 BGR) and write them back so.
    source.raw = uses_device_loop(setup.backend, fitted_size((source.height, source.width), max_size), config)
    total = min(source.frame_count or max_frames, max_frames) if max_frames else source.frame_count
    progress = Progress(total, enabled=not quiet)
    frames = itertools.islice(source, max_frames) if max_frames else iter(source)
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(VideoSink(output, source.fps, (source.width, source.height), overwrite)) if output else None
        stack.callback(progress.end)  # after the writer's last frames
        writer = None
        if sink is not None:
            # frames are encoded while the next is dreamed; progress counts frames written, so a killed run's file
            # holds all that the progress line showed but the last (whose fragment the next frame closes)
            writer = stack.enter_context(WriteBehind(lambda timed: sink.write(*timed), on_written=progress.frame))
        window = stack.enter_context(Preview()) if preview else None
        cam = stack.enter_context(VirtualCamera(source.width, source.height, source.fps)) if virtual_cam else None
        # a live source's recording is timed by when each dream was made (the camera's fps is not the dream's)
        clock = seconds_since_first() if source.live else lambda: None
        for out in dream_frames(setup.backend, frames, config, video, max_size=max_size, rng=np.random.default_rng(seed)):
            if writer is not None:
                writer.submit((out, clock()))
            else:
                progress.frame()
            if cam is not None:
                cam.send(out)
            if window is not None and not window.show(out, f"{progress.fps():.1f} fps"):
                break
    size = sink.size if sink is not None else (source.width, source.height)
    return progress.done, progress.fps(), f"{size[0]}x{size[1]}"


def _kept(output: Optional[Path]) -> str:
    """What an interrupted run left behind (a video that got no frame is removed by its sink)."""
    if output is None:
        return ""
    return f"; {output} holds the frames done so far" if output.exists() else "; no frame was finished, nothing written"


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


def check_output_for(kind: str, input: Optional[Path], output: Optional[Path], zoom_frames: int, zoom: float,
                     overwrite: bool) -> None:
    """Fail before any work on an output that does not fit the input (``kind``: image, video or webcam): its kind,
    suffix, place, the input itself, or the zoom settings."""
    from vis.engine._images import check_output
    from vis.engine._video import check_video_suffix, is_image_path, is_video_path

    if output is not None and not (is_image_path(output) or is_video_path(output)):
        raise VisError(f"cannot tell the output kind of {output}: use an image (.png, .jpg) or video (.mp4, .avi) suffix")
    if kind == "image":
        if output is None:
            raise VisError("an image input needs -o OUTPUT (an image, or a video with --zoom-frames N)")
        if is_video_path(output) and not zoom_frames:
            raise VisError(f"{output} is a video: pass --zoom-frames N (N >= 1) to zoom into the dream, or write an image")
        if zoom_frames and not is_video_path(output):
            raise VisError("--zoom-frames writes a video: use an .mp4 or .avi output")
    elif output is not None and not is_video_path(output):
        raise VisError(f"a {kind} input makes a video: use an .mp4 or .avi output, not {output.suffix}")
    elif zoom_frames:
        raise VisError(f"--zoom-frames zooms into a still image; a {kind} input is dreamed frame by frame")
    if zoom_frames and not 0.0 <= zoom < 1.0:
        raise VisError(f"--zoom must be at least 0 and below 1 (0.05 = 5% per frame), got {zoom:g}")
    if output is None:
        return
    if is_video_path(output):
        check_video_suffix(output)
    if kind == "video" and output.exists() and output.samefile(input):
        raise VisError(f"{output} is the input: a video cannot be dreamed into itself while it is read; choose another -o")
    check_output(output, overwrite)


FRAME_OPTIONS = {"blend": "--blend", "iterations_per_frame": "--iterations-per-frame",
                 "octaves_per_frame": "--octaves-per-frame", "flow": "--flow", "flow_size": "--flow-size",
                 "max_frames": "--max-frames", "preview": "--preview", "virtual_cam": "--virtual-cam"}
ZOOM_OPTIONS = {"zoom": "--zoom", "fps": "--fps"}


def given_options(ctx: typer.Context) -> set[str]:
    """The parameters the user typed (not left at their defaults); by the source's name, which click and typer's own
    copy of it share."""
    return {name for name in ctx.params if ctx.get_parameter_source(name).name not in ("DEFAULT", "DEFAULT_MAP")}


def check_options_apply(kind: str, zoom_frames: int, given: set[str], octaves: int, octaves_per_frame: int) -> None:
    """Refuse options that would do nothing for this input (``kind``: image, video or webcam), so that a setting the
    user typed is never silently ignored."""
    def named(options: dict[str, str], one: str, many: str) -> str:
        flags = [flag for name, flag in options.items() if name in given]
        return f"{', '.join(flags)} {one if len(flags) == 1 else many}" if flags else ""

    frame_only = named(FRAME_OPTIONS, "applies", "apply")
    if kind == "image" and frame_only:
        raise VisError(f"{frame_only} to a video or webcam input only; an image is dreamed as a still"
                       + (" and zoomed" if zoom_frames else ""))
    zoom_only = named(ZOOM_OPTIONS, "sets", "set")
    if kind == "image" and not zoom_frames and zoom_only:
        raise VisError(f"{zoom_only} the zoom video of --zoom-frames N: add --zoom-frames, or drop "
                       + ("it" if zoom_only.endswith("sets") else "them"))
    if kind != "image" and named(ZOOM_OPTIONS, "", ""):
        raise VisError(f"{named(ZOOM_OPTIONS, 'applies', 'apply')} to a zoom video only (an image with --zoom-frames "
                       "N); " + ("a video keeps its own frame rate" if kind == "video" else
                                 "a webcam recording is timed as it is dreamed"))
    if kind != "image" and octaves_per_frame > octaves:
        raise VisError(f"--octaves-per-frame {octaves_per_frame} is above --octaves {octaves}: frames after the "
                       "first start from the last dream and need no more octaves than the first")


def _config(octaves: int, octave_scale: float, iterations: int, step: float, jitter: int, tile: int) -> Any:
    from vis.engine._dream import DreamConfig

    return DreamConfig(octaves=octaves, octave_scale=octave_scale, iterations=iterations, step=step, jitter=jitter, tile=tile)


def demo_outputs(output: Optional[Path]) -> tuple[Path, Path, bool]:
    """The demo's image and zoom-video paths for ``-o``, and whether the user named them.

    A folder (or nothing: ``vis-out/``) gets ``dream-demo.jpg`` and ``dream-zoom-demo.mp4``; an image name gets the
    image with the video beside it as ``<stem>-zoom.mp4``; a video name gets the video with ``<stem>.jpg`` beside it.
    """
    from vis.engine._video import is_image_path, is_video_path

    named = output is not None and not output.is_dir()  # an existing folder stays a folder, whatever its name
    if named and is_image_path(output):
        return output, output.with_name(f"{output.stem}-zoom.mp4"), True
    if named and is_video_path(output):
        return output.with_suffix(".jpg"), output, True
    if named and output.suffix:
        raise VisError(f"--demo -o takes a folder, an image name (.jpg, .png) or a video name (.mp4), not {output}")
    folder = output or DEMO_DIR
    return folder / "dream-demo.jpg", folder / "dream-zoom-demo.mp4", False


def run_demo(output: Optional[Path], backend: str, provider: str, threads: int, seed: Optional[int],
             overwrite: bool = False, quiet: bool = False) -> None:
    """Dream scikit-learn's sample photo with EfficientNet-Lite0's real weights: an image and a 12-frame zoom.

    The demo's own file names in a folder are replaced on every run (with a line saying so); file names the user
    chose are replaced only with ``--overwrite``.
    """
    import sklearn.datasets

    from vis.engine._dream import DreamConfig
    from vis.engine._images import check_output
    from vis.engine._video import check_video_suffix

    t0 = time.perf_counter()
    photo = Path(sklearn.datasets.__file__).parent / "images" / "china.jpg"
    image_out, zoom_out, named = demo_outputs(output)
    if named:
        check_video_suffix(zoom_out)
        for path in (image_out, zoom_out):  # both checked before any work
            check_output(path, overwrite)
    elif image_out.exists() or zoom_out.exists():
        typer.echo(f"overwriting the demo's earlier outputs in {image_out.parent}/")
    setup = build_setup("efficientnet_lite0", "imagenet", None, None, backend, provider, threads, None)
    typer.echo(f"demo: {photo.name} dreamed by efficientnet_lite0 (ImageNet weights) at {setup.objective}, {backend} backend")
    run_image(setup, photo, image_out, DreamConfig(octaves=4, iterations=8), 400, seed, overwrite=True, quiet=quiet)
    typer.echo(f"wrote {image_out}")
    n = run_zoom(setup, image_out, zoom_out, DreamConfig(octaves=2, iterations=3), 12, 0.05, 12.0, 320, seed, overwrite=True,
                 quiet=quiet)
    typer.echo(f"wrote {zoom_out} ({n} frames)")
    typer.echo(f"demo done in {time.perf_counter() - t0:.1f} s, peak memory {peak_memory_mib():.0f} MiB")


# ---- the command ------------------------------------------------------------------------------------------------

def register(app: VisTyper) -> None:
    from vis.engine._dream import GPU_TILE, WEBCAM_CPU_MAX_SIZE, DreamConfig, default_tile, runs_on_gpu

    d, v = DreamConfig(), VideoDreamConfig()

    @app.command("dream")
    def dream_cmd(
        ctx: typer.Context,
        input: Optional[Path] = typer.Argument(None, help="An image or a video file (or use --webcam N / --demo)."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output image or video (by extension). --demo: a folder, or the image's (or video's) name."),
        webcam: Optional[int] = typer.Option(None, "--webcam", min=0, help="Dream webcam N in real time (previews without -o)."),
        demo: bool = typer.Option(False, "--demo", help="Dream a bundled photo with EfficientNet-Lite0; needs no download."),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Model (default: googlenet if its ImageNet weights are here, else efficientnet_lite0)."),
        weights: Optional[str] = typer.Option(None, "--weights", "-w", help=WEIGHTS_HELP),
        objective: Optional[str] = typer.Option(None, "--objective", help="Objective, e.g. inception4c, inception4c:97, a+0.5*b (default: the model's dream layer)."),
        octaves: int = typer.Option(d.octaves, "--octaves", min=1, help="Pyramid levels."),
        octave_scale: float = typer.Option(d.octave_scale, "--octave-scale", help="Size ratio between octaves."),
        iterations: int = typer.Option(d.iterations, "--iterations", min=0, help="Steps per octave."),
        step: float = typer.Option(d.step, "--step", help="Step size (8-bit pixel units, gradient / mean|g|)."),
        jitter: int = typer.Option(d.jitter, "--jitter", min=0, help="Random roll per step, pixels."),
        tile: Optional[int] = typer.Option(None, "--tile", min=64, help=f"Larger images are dreamed in tiles of at most this size (default {d.tile} on the CPU, {GPU_TILE} on a GPU provider)."),
        guide: Optional[Path] = typer.Option(None, "--guide", help="Guide image: dream towards its features (objective guide:LAYER)."),
        max_size: Optional[int] = typer.Option(None, "--max-size", min=32, help=f"Dream at most this long side (videos keep their size). Default: full size ({WEBCAM_CPU_MAX_SIZE} for a webcam on the CPU)."),
        seed: int = typer.Option(0, "--seed", help="Random seed of the jitter: the same seed gives the same result."),
        zoom_frames: int = typer.Option(0, "--zoom-frames", min=0, help="Image input: dream, zoom, repeat this many frames into a video."),
        zoom: float = typer.Option(0.05, "--zoom", help="Zoom per frame (0.05 = 5%)."),
        fps: float = typer.Option(25.0, "--fps", help="Frame rate of a zoom video."),
        blend: float = typer.Option(v.blend, "--blend", help="Video: weight of the flow-warped previous dream (0 = no temporal coherence)."),
        iterations_per_frame: int = typer.Option(v.iterations_per_frame, "--iterations-per-frame", min=0, help="Video: steps per octave after the first frame."),
        octaves_per_frame: int = typer.Option(v.octaves_per_frame, "--octaves-per-frame", min=1, help="Video: octaves after the first frame."),
        flow: str = typer.Option(v.flow, "--flow", help="Optical flow: dis (default, 2-3x faster), farneback or none."),
        flow_size: int = typer.Option(v.flow_size, "--flow-size", min=0, help="Video: long side the optical flow is "
                                      "computed at, at least 16 (0 = the dream's size)."),
        max_frames: int = typer.Option(0, "--max-frames", min=0, help="Stop after this many frames (0 = all)."),
        preview: bool = typer.Option(False, "--preview", help="Show the result in a window."),
        virtual_cam: bool = typer.Option(False, "--virtual-cam", help="Send the result to a virtual camera (pyvirtualcam)."),
        backend: str = typer.Option("ort", "--backend", help="ort (ONNX Runtime gradient graphs) or torch (autograd)."),
        provider: str = typer.Option("auto", "--provider", help="ORT execution provider: auto, cpu, cuda, tensorrt."),
        threads: int = typer.Option(0, "--threads", min=0, help="Intra-op threads (0 = all cores)."),
        loop: str = typer.Option("auto", "--loop", help="ort backend: keep the image on the device between steps "
                                 "(device), on the host (host), or device on a GPU provider and host on cpu (auto)."),
        cuda_graph: bool = typer.Option(False, "--cuda-graph", help="Capture the device loop's steps as CUDA graphs "
                                        "(--provider cuda; one graph per octave size)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress line."),
    ) -> None:
        """DeepDream an image, a video file or a webcam (octaves, jitter, tiles, zoom, temporally coherent video)."""
        from vis.engine._backend import check_backend
        from vis.engine._video import VideoSourceError, VideoSource, WebcamSource, copy_audio, sniff_kind

        t0 = time.perf_counter()
        if demo:
            ignored = [name for name, value in (("an input", input), ("--webcam", webcam), ("--model", model),
                       ("--weights", weights), ("--objective", objective), ("--guide", guide)) if value is not None]
            if ignored:
                raise fail(f"--demo dreams its own photo with EfficientNet-Lite0 at its default objective; drop "
                           f"{', '.join(ignored)} (or drop --demo)")
            run_demo(output, backend, provider, threads, seed, overwrite, quiet)
            return
        if (input is None) == (webcam is None):
            raise fail("give one input: an image or video file, or --webcam N (or --demo)")
        check_backend(backend, provider)
        config = _config(octaves, octave_scale, iterations, step, jitter, tile or default_tile(provider))
        video_config = VideoDreamConfig(blend, iterations_per_frame, octaves_per_frame, flow, flow_size or None)
        kind = "webcam" if webcam is not None else sniff_kind(input)
        check_options_apply(kind, zoom_frames, given_options(ctx), octaves, octaves_per_frame)
        check_output_for(kind, input, output, zoom_frames, zoom, overwrite)
        if kind == "webcam" and output is None and not virtual_cam:
            preview = True
        if kind == "video" and output is None and not (preview or virtual_cam):
            raise fail("a video input needs -o OUTPUT.mp4 (or --preview)")
        # open the source before the (slow) model so bad inputs fail fast
        source = WebcamSource(webcam) if kind == "webcam" else VideoSource(input) if kind == "video" else None
        try:
            if preview:
                from vis.engine._video import Preview

                Preview().close()  # fail now, not after the model is built
            webcam_on_cpu = kind == "webcam" and max_size is None and not runs_on_gpu(provider)
            if webcam_on_cpu:
                max_size = WEBCAM_CPU_MAX_SIZE
            setup = build_setup(model, weights, objective, guide, backend, provider, threads, max_size, loop=loop,
                                cuda_graph=cuda_graph, input_sizes=network_inputs(kind, input, source, max_size,
                                                                                  zoom_frames, config, video_config))
            typer.echo(f"{setup.model_name} ({setup.weights}) objective {setup.objective}, {backend} backend")
            if kind == "image" and not zoom_frames:
                written = run_image(setup, input, output, config, max_size, seed, overwrite, quiet)
                typer.echo(f"wrote {written}")
            elif kind == "image":
                try:
                    n = run_zoom(setup, input, output, config, zoom_frames, zoom, fps, max_size, seed, overwrite, quiet)
                except KeyboardInterrupt:
                    raise Interrupted(f"interrupted{_kept(output)}") from None
                typer.echo(f"wrote {output} ({n} frames, zoom {zoom:g} per frame)")
            else:
                if webcam_on_cpu:
                    typer.echo(f"webcam on the CPU: dreaming at most {max_size} px a side, for speed (--max-size "
                               "to change)")
                done = 0
                try:
                    done, rate, size = run_video(setup, source, output, config, video_config, max_size, seed,
                                                 overwrite, preview, virtual_cam, max_frames, quiet=quiet)
                except KeyboardInterrupt:
                    read = f"{source.frames_read} input frame{'' if source.frames_read == 1 else 's'}"
                    raise Interrupted(f"interrupted after {read}{_kept(output)}") from None
                if output is not None and source.live:
                    typer.echo(f"wrote {output} ({done} frames, {size}, timed as they were "
                               f"dreamed: {rate:.2f} fps)")
                elif output is not None:
                    typer.echo(f"wrote {output} ({done} frames, {size} at {source.fps:g} fps, "
                               f"{rate:.2f} fps dreamed)")
                if source.truncated:
                    raise VideoSourceError(f"{input} ended after {source.frames_read} of {source.frame_count} frames "
                                           f"(truncated or corrupt); {output} holds the {done} frames done")
                if kind == "video" and output is not None:
                    typer.echo(copy_audio(input, output))
        finally:
            if source is not None:
                source.close()
        typer.echo(f"done in {time.perf_counter() - t0:.1f} s, peak memory {peak_memory_mib():.0f} MiB")


# Attached to the bench group as ``bench_app.command("dream")(bench_dream)`` (a VisTyper adds the error policy).
def bench_dream(
    model: str = typer.Option("googlenet", "--model", help="Model (timing does not depend on weight values)."),
    weights: str = typer.Option("random", "--weights", "-w", help="random (seeded; speed does not depend on weight values), "
                                "imagenet (published weights) or a state_dict file."),
    frames: int = typer.Option(48, "--frames", min=1, help="Frames of the synthetic clip."),
    width: int = typer.Option(640, "--width", min=32, help="Frame width of the synthetic clip."),
    height: int = typer.Option(360, "--height", min=32, help="Frame height of the synthetic clip."),
    backends: str = typer.Option("ort,torch", "--backends", help="Comma-separated backends, timed in this order."),
    threads: int = typer.Option(2, "--threads", min=0, help="Intra-op threads, the same for every backend."),
    provider: str = typer.Option("auto", "--provider", help="auto, cpu, cuda or tensorrt (the ort backend's; "
                                 "torch runs on CUDA for cuda/tensorrt)."),
    flow: str = typer.Option(VideoDreamConfig.flow, "--flow", help="Optical flow: dis, farneback or none."),
    flow_size: int = typer.Option(VideoDreamConfig.flow_size, "--flow-size", min=0, help="Long side the optical flow is computed at "
                                  "(0 = the dream's size)."),
    cuda_graph: bool = typer.Option(False, "--cuda-graph", help="ort backend: capture the device loop's steps as CUDA "
                                    "graphs (--provider cuda)."),
) -> None:
    """Frames per second of video DeepDream (default settings) on a synthetic clip: on a CPU the backends take turns
    frame by frame, on a GPU each dreams the whole clip in turn."""
    from vis.engine._bench import describe_threads
    from vis.engine._dream import DreamConfig, default_tile, runs_on_gpu
    from vis.engine._dream_bench import bench_dream as run, format_bench

    config = DreamConfig(tile=default_tile(provider))
    video = VideoDreamConfig(flow=flow, flow_size=flow_size or None)
    typer.echo(f"{model} ({weights}) {width}x{height}, {frames} frames, default dream settings (tile {config.tile}, "
               f"flow {flow} at {flow_size or 'full'} px), {describe_threads(threads)}, provider {provider}"
               + (", CUDA graphs" if cuda_graph else ""))
    results = run(model=model, weights=weights, frames=frames, size=(width, height),
                  backends=tuple(b.strip() for b in backends.split(",") if b.strip()), threads=threads, provider=provider,
                  config=config, video=video, cuda_graph=cuda_graph,
                  # No pause between frames on a GPU: the device loop computes the next flow during a pause, which
                  # would leave it out of the time (and spinning CPU threads are a CPU provider's matter).
                  pause_s=0.0 if runs_on_gpu(provider) else 0.05)
    typer.echo(format_bench(results))
