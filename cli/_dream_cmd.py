"""`vis dream`: DeepDream on an image, a zoom video, a video file or a webcam. Thin: check, build, run, report."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer

from vis.cli._app import MAX_THREADS, VisTyper, below_int64, fail, given_options, option_flag, quiet_option, seed_option
from vis.cli._dream_batch import dream_folder
from vis.cli._dream_checks import DEMO_OPTIONS, check_options_apply, check_output_for
from vis.cli._dream_demo import run_demo
from vis.cli._dream_runs import run_image, run_video, run_zoom
from vis.cli._dream_setup import DreamSetup, build_setup
from vis.cli._model_cmds import WEIGHTS_HELP
from vis.engine._dream import (  # their defaults are the options' defaults
    GPU_TILE, GUIDE_SIDE, MAX_STEP, WEBCAM_CPU_MAX_SIZE, DreamConfig, VideoDreamConfig, default_tile, runs_on_gpu,
)
from vis.engine._folders import FolderPlan, folder_summary
from vis.errors import VisError


@dataclass(frozen=True)
class _Options:
    """`vis dream`'s parameters as the command got them (a path's ~ expanded), by their names."""

    input: Optional[Path]
    output: Optional[Path]
    webcam: Optional[int | str]
    demo: bool
    model: Optional[str]
    weights: Optional[str]
    objective: Optional[str]
    octaves: int
    octave_scale: float
    iterations: int
    step: float
    jitter: int
    tile: Optional[int]
    guide: Optional[Path]
    max_size: Optional[int]
    seed: int
    zoom_frames: int
    zoom: float
    fps: float
    blend: float
    iterations_per_frame: int
    octaves_per_frame: int
    flow: str
    flow_size: int
    max_frames: int
    start: Optional[float]
    duration: Optional[float]
    preview: bool
    virtual_cam: bool
    serve: Optional[tuple[str, int]]
    backend: str
    provider: str
    threads: int
    loop: str
    cuda_graph: bool
    overwrite: bool
    resume: bool
    skip_existing: bool
    quiet: bool

    @classmethod
    def of(cls, values: dict[str, Any]) -> _Options:
        """The options among ``values`` (the command's ``locals()``, which hold its context too)."""
        return cls(**{field.name: values[field.name] for field in dataclasses.fields(cls)})


@dataclass(frozen=True)
class _Request:
    """What the checked options ask for.

    Attributes:
        kind: the input's kind: image, folder, video, webcam, or frame (a video file's frame dreamed as a still
            image: an image output).
        plan: a folder input's images and their outputs.
        preview: show the dream in a window (a webcam with neither -o, --virtual-cam nor --serve is shown so).
        max_size: the long side dreamed at most (``--max-size``, or the webcam's on the CPU).
        webcam_capped: a webcam on the CPU is dreamed smaller, for speed, as --max-size was not given.
        stopped: with --resume, what the stopped dream's output holds (``None``: there is none, dream from the start).
    """

    kind: str
    config: DreamConfig
    video_config: VideoDreamConfig
    plan: Optional[FolderPlan]
    preview: bool
    max_size: Optional[int]
    webcam_capped: bool = False
    stopped: Any = None


# ---- the command ------------------------------------------------------------------------------------------------

def register(app: VisTyper) -> None:
    d, v = DreamConfig(), VideoDreamConfig()

    @app.command("dream")
    def dream_cmd(
        ctx: typer.Context,
        input: Optional[Path] = typer.Argument(None, help="An image, a video file or a folder of images (or use --webcam N / --demo)."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output image or video (by extension; an image of a video input: one frame, see --start); a folder for a folder input. --demo: a folder, or the image's (or video's) name."),
        webcam: Optional[str] = typer.Option(None, "--webcam", metavar="N|URL", callback=_camera_option, help="Dream webcam N, or a live stream's URL (rtsp://, http://, udp://, srt://...), in real time: the newest frame each time (previews without -o)."),
        demo: bool = typer.Option(False, "--demo", help="Dream a bundled photo with EfficientNet-Lite0 at the demo's own settings (takes only -o, --backend, --provider, --threads, --seed, --overwrite, -q); needs no download."),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Model (default: googlenet if its ImageNet weights are here, else efficientnet_lite0)."),
        weights: Optional[str] = typer.Option(None, "--weights", "-w", help=WEIGHTS_HELP),
        objective: Optional[str] = typer.Option(None, "--objective", help="Objective, e.g. inception4c, inception4c:97, a+0.5*b (default: the model's dream layer)."),
        octaves: int = typer.Option(d.octaves, "--octaves", min=1, help="Pyramid levels (a small image gets fewer: said when this is typed)."),
        octave_scale: float = typer.Option(d.octave_scale, "--octave-scale", help="Size ratio between octaves."),
        iterations: int = typer.Option(d.iterations, "--iterations", min=1, help="Steps per octave."),
        step: float = typer.Option(d.step, "--step", help=f"Step size (8-bit pixel units, gradient / mean|g|; at most {MAX_STEP:g})."),
        jitter: int = typer.Option(d.jitter, "--jitter", min=0, help="Random roll per step, pixels (an image larger than --tile rolls by up to a tile instead, so seams move)."),
        tile: Optional[int] = typer.Option(None, "--tile", min=64, help=f"Larger images are dreamed in tiles of at most this size (default {d.tile} on the CPU, {GPU_TILE} on a GPU provider)."),
        guide: Optional[Path] = typer.Option(None, "--guide", help=f"Guide image: dream towards its features (objective guide:LAYER; the layer is inception3b for GoogLeNet, as in the DeepDream seminar's guided dream, and the model's default layer for the others), taken with the long side at --max-size ({GUIDE_SIDE} when unset)."),
        max_size: Optional[int] = typer.Option(None, "--max-size", min=32, help=f"Dream at most this long side (videos keep their size). Default: full size ({WEBCAM_CPU_MAX_SIZE} for a webcam on the CPU)."),
        seed: int = seed_option(0, help="Random seed of the jitter: the same seed gives the same result."),
        zoom_frames: int = typer.Option(0, "--zoom-frames", min=0, help="Image input: dream, zoom, repeat this many frames into a video."),
        zoom: float = typer.Option(0.05, "--zoom", help="Zoom per frame: the centre 1 - ZOOM of each dream fills the next frame (0.05: 95%)."),
        fps: float = typer.Option(25.0, "--fps", help="Frame rate of a zoom video."),
        blend: float = typer.Option(v.blend, "--blend", help="Video: weight of the flow-warped previous dream (0 = no temporal coherence)."),
        iterations_per_frame: int = typer.Option(v.iterations_per_frame, "--iterations-per-frame", min=0, help="Video: steps per octave after the first frame."),
        octaves_per_frame: int = typer.Option(v.octaves_per_frame, "--octaves-per-frame", min=1, help="Video: octaves after the first frame."),
        flow: str = typer.Option(v.flow, "--flow", help="Optical flow: dis (default, 1.8-3x faster than farneback), farneback or none."),
        flow_size: int = typer.Option(v.flow_size, "--flow-size", min=0, help="Video: long side the optical flow is "
                                      "computed at, at least 16 (0 = the dream's size)."),
        max_frames: int = typer.Option(0, "--max-frames", min=0, callback=below_int64, help="Stop after this many frames (0 = all; with --resume, the frames kept count)."),
        start: Optional[str] = typer.Option(None, "--start", metavar="TIME", callback=_start_option, help="Video file: begin this far in, in seconds or [H:]M:SS (90, 1:30, 0:01:30.5); the sound is cut to match. With an image output (-o frame.png): the frame dreamed as a still."),
        duration: Optional[str] = typer.Option(None, "--duration", metavar="TIME", callback=_duration_option, help="Video file: dream a section this long (from --start, or the beginning)."),
        preview: bool = typer.Option(False, "--preview", help="Show the result in a window (q, Esc or closing it stops)."),
        virtual_cam: bool = typer.Option(False, "--virtual-cam", help="Send the result to a virtual camera (pyvirtualcam)."),
        serve: Optional[str] = typer.Option(None, "--serve", metavar="[HOST:]PORT", callback=_address_option, help="Serve the dream live over HTTP (MJPEG) for a browser or a stream reader: PORT alone for this machine only, 0.0.0.0:PORT for others too (a server without a display)."),
        backend: str = typer.Option("ort", "--backend", help="ort (ONNX Runtime gradient graphs) or torch (autograd)."),
        provider: str = typer.Option("auto", "--provider", help="ORT execution provider: auto, cpu, cuda, tensorrt."),
        threads: int = typer.Option(0, "--threads", min=0, max=MAX_THREADS, help="Intra-op threads (0 = all cores)."),
        loop: str = typer.Option("auto", "--loop", help="ort backend: keep the image on the device between steps "
                                 "(device), on the host (host), or device on a GPU provider and host on cpu (auto)."),
        cuda_graph: bool = typer.Option(False, "--cuda-graph", help="Capture the device loop's steps as CUDA graphs "
                                        "(--provider cuda; one graph per octave size)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
        resume: bool = typer.Option(False, "--resume", help="Video: go on with a dream that was stopped (Ctrl-C, a crash): keep the frames the output holds and dream the rest (the same command again, with --resume)."),
        skip_existing: bool = typer.Option(False, "--skip-existing", help="Folder input: keep the dreams already in "
                                           "the output folder and dream the rest (go on after Ctrl-C)."),
        quiet: bool = quiet_option(),
    ) -> None:
        """DeepDream an image, a folder of images, a video file, a webcam or a live stream (octaves, jitter, tiles,
        zoom, temporally coherent video)."""
        from vis.engine._bench import peak_memory_mib
        from vis.models import model_spec

        opts = _Options.of(locals())  # one value to hand the helpers below, instead of thirty-five arguments
        t0 = time.perf_counter()
        given = given_options(ctx)
        _check_demo_and_backend(ctx, opts, given)
        if demo:
            run_demo(output, backend, provider, threads, seed, overwrite, quiet)
            return
        request = _checked_request(opts, given)
        if request.plan is not None:
            typer.echo(folder_summary(request.plan))
            if not request.plan.pairs:  # every dream is there already (--skip-existing): no model to load
                typer.echo(f"nothing left to dream into {request.plan.output}")
                return
        source = _open_source(request.kind, opts, request.stopped)  # before the (slow) model: bad inputs fail fast
        served = None
        try:
            served = _open_displays(opts, request, source, given)
            request = _capped_for_cpu(opts, request)
            still = _still_of(request.kind, input, source)  # read once
            shape = still.rgb.shape[:2] if still is not None else (source.height, source.width) if source else None
            sizes = _input_sizes(opts, request, shape, given)  # neuron positions are checked before the weights load
            setup = build_setup(model, weights, objective, guide, backend, provider, threads, request.max_size,
                                loop=loop, cuda_graph=cuda_graph, input_sizes=sizes, min_size=request.config.min_size)
            shown = setup.objective.named(model_spec(setup.model_name).categories)  # class:1 'goldfish'
            typer.echo(f"{setup.model_name} ({setup.weights}) objective {shown}, {backend} backend")
            _run(setup, opts, request, given, still, source, served)
        finally:
            if served is not None:
                served.close()
            if source is not None:
                source.close()
        typer.echo(f"done in {time.perf_counter() - t0:.1f} s, peak memory {peak_memory_mib():.0f} MiB")


# ---- check ------------------------------------------------------------------------------------------------------

def _check_demo_and_backend(ctx: typer.Context, opts: _Options, given: set[str]) -> None:
    """Refuse typed options that --demo would ignore, then a backend, provider or loop that cannot run: before the
    demo too, so that a misspelt provider fails before any model loads."""
    from vis.engine._backend import check_backend

    if opts.demo:  # the demo's own settings: say which typed options it would ignore, before anything else
        ignored = sorted(given - DEMO_OPTIONS, key=[p.name for p in ctx.command.params].index)
        if ignored:
            raise fail(f"--demo dreams its own photo with EfficientNet-Lite0 at its own settings; drop "
                       f"{', '.join(option_flag(ctx, name) for name in ignored)} (or drop --demo)")
    check_backend(opts.backend, opts.provider, opts.loop, opts.cuda_graph)


def _checked_request(opts: _Options, given: set[str]) -> _Request:
    """The input's kind and the dream's settings, with every option checked against the input and the output before
    any work (a folder input's outputs planned).

    Raises:
        typer.Exit: no input, or more than one.
        VisError: settings out of range, options that would do nothing, an output that does not fit the input.
    """
    if (opts.input is None) == (opts.webcam is None):
        raise fail("give one input: an image or video file, a folder of images, or --webcam N (or --demo)")
    tile = opts.tile or default_tile(opts.provider, opts.backend)
    config = DreamConfig(octaves=opts.octaves, octave_scale=opts.octave_scale, iterations=opts.iterations,
                         step=opts.step, jitter=opts.jitter, tile=tile)
    video_config = VideoDreamConfig(opts.blend, opts.iterations_per_frame, opts.octaves_per_frame, opts.flow,
                                    opts.flow_size or None)
    kind = _input_kind(opts)
    if kind == "video" and opts.output is not None and _is_still_path(opts.output):
        kind = "frame"  # one frame of the video, dreamed as a still
    check_options_apply(kind, opts.zoom_frames, given, opts.octaves, opts.octaves_per_frame, opts.blend, opts.flow)
    plan = _checked_outputs(kind, opts)
    shown_elsewhere = opts.virtual_cam or opts.serve is not None
    preview = opts.preview or (kind == "webcam" and opts.output is None and not shown_elsewhere)
    if kind == "video" and opts.output is None and not (preview or shown_elsewhere):
        raise fail("a video input needs -o OUTPUT.mp4 (or --preview, or --serve PORT)")
    return _Request(kind, config, video_config, plan, preview, opts.max_size, stopped=_stopped_dream(opts))


def _stopped_dream(opts: _Options) -> Any:
    """With --resume, what the output holds (a :class:`vis.engine._resume.StoppedDream`); ``None`` without it, or
    where there is no output yet (said: the dream starts from the beginning)."""
    from vis.engine._resume import NoFrameYet, stopped_dream

    if not opts.resume:
        return None
    if not opts.output.exists():
        typer.echo(f"nothing to resume at {opts.output}: dreaming from the start", err=True)
        return None
    try:
        stopped = stopped_dream(opts.output)
    except NoFrameYet:  # a run killed while it dreamed its first frame: the file holds only its header
        opts.output.unlink()
        typer.echo(f"{opts.output} holds no frame yet (its dream was stopped before the first): dreaming from the "
                   "start", err=True)
        return None
    if stopped.torn:
        typer.echo(f"note: the last frame in {opts.output} was cut short (a full disk, or a kill while it was "
                   "written): it is dreamed again", err=True)
    return stopped


def _parsed_by(parse: Any) -> Any:
    """An option's callback that gives ``parse(text)``'s value, and a usage error (exit 2) with its message where it
    raises a VisError."""

    def callback(value: Optional[str]) -> Any:
        try:
            return None if value is None else parse(value)
        except VisError as e:
            raise typer.BadParameter(str(e)) from None

    return callback


def _camera_option(value: Optional[str]) -> Optional[int | str]:
    """``--webcam``'s text as a camera's index or a stream's URL."""
    from vis.engine._cameras import camera_of

    return _parsed_by(camera_of)(value)


def _start_option(value: Optional[str]) -> Optional[float]:
    """``--start``'s text in seconds."""
    from vis._text import seconds_in

    return _parsed_by(seconds_in)(value)


def _duration_option(value: Optional[str]) -> Optional[float]:
    """``--duration``'s text in seconds, above 0."""
    from vis._text import seconds_in

    def positive(text: str) -> float:
        if (seconds := seconds_in(text)) <= 0:
            raise VisError(f"a section must last longer than 0 s, got {text!r}")
        return seconds

    return _parsed_by(positive)(value)


def _address_option(value: Optional[str]) -> Optional[tuple[str, int]]:
    """``--serve``'s text as the (host, port) to serve on."""
    from vis.engine._served import served_address

    return _parsed_by(served_address)(value)


def _input_kind(opts: _Options) -> str:
    """``webcam``, ``folder``, or what the input file holds: ``image`` or ``video``."""
    from vis.engine._cameras import stream_scheme
    from vis.engine._media_kinds import sniff_kind
    from vis.models import list_models

    if opts.webcam is not None:
        return "webcam"
    input = opts.input
    if not input.exists() and (scheme := stream_scheme(str(input))):
        raise fail(f"{scheme}:// names a live stream: dream it with --webcam URL (the newest frame each time); to "
                   f"dream every frame of a video online, download it first")
    if not input.exists() and str(input) in list_models():
        raise fail(f"{input} is a model: name it with --model (vis dream INPUT -m {input} -o OUTPUT)")
    return "folder" if input.is_dir() else sniff_kind(input)


def _checked_outputs(kind: str, opts: _Options) -> Optional[FolderPlan]:
    """Check the output against the input (a folder input's planned, image by image), and that a virtual camera can
    be had; returns the folder's plan, or ``None`` for other inputs."""
    from vis.engine._folders import plan_folder

    plan = None
    if kind == "folder":
        plan = plan_folder(opts.input, opts.output, opts.overwrite, opts.skip_existing)
    else:
        if opts.resume and opts.output is None:
            raise fail("--resume goes on with the video that -o names: give -o OUTPUT")
        check_output_for("image" if kind == "frame" else kind, opts.input, opts.output, opts.zoom_frames, opts.zoom,
                         opts.fps, opts.overwrite, opts.guide, resume=opts.resume)
    if opts.virtual_cam:
        from vis.engine._display import check_virtual_cam

        check_virtual_cam()  # a missing pyvirtualcam fails now, not after the model is built
    return plan


# ---- build ------------------------------------------------------------------------------------------------------

def _open_source(kind: str, opts: _Options, stopped: Any = None) -> Any:
    """The frame source of a video file or a webcam; ``None`` for an image or a folder. A video's is sought to its
    section, and past the frames a stopped dream (``stopped``, with --resume) holds.

    Raises:
        typer.Exit: (0) the stopped dream holds every frame: there is nothing to go on with.
    """
    from vis.engine._cameras import WebcamSource
    from vis.engine._resume import check_same_dream, dream_record
    from vis.engine._video import SectionReadError, open_video

    if kind == "webcam":
        return WebcamSource(opts.webcam)
    if kind not in ("video", "frame"):
        return None
    source = open_video(opts.input)
    if opts.start is None and opts.duration is None and stopped is None:
        return source
    try:
        if stopped is not None:  # another input's dream could look finished below: say so first
            check_same_dream(opts.output, stopped, dream_record(**_input_facts(opts)), only=("input", "input_bytes",
                                                                                              "start"))
        if stopped is not None and opts.max_frames and stopped.frames >= opts.max_frames:
            raise SectionReadError("the --max-frames asked for are there")  # --max-frames counts the output's frames
        if source.animated:
            what = "--resume goes on with" if stopped is not None else "--start and --duration cut a section of"
            raise fail(f"{what} a video file; an animated image is dreamed whole")
        source.seek(opts.start or 0.0, opts.duration, after=None if stopped is None else stopped.last_start)
    except SectionReadError:
        source.close()
        typer.echo(f"{opts.output} holds the whole dream already ({stopped.frames} frames): nothing to resume")
        raise typer.Exit(0) from None
    except BaseException:
        source.close()
        raise
    return source


def _is_still_path(path: Path) -> bool:
    """Whether ``path`` names a still image (.png, .jpg; a .gif is written as a video)."""
    from vis.engine._media_kinds import is_image_path, is_video_path

    return is_image_path(path) and not is_video_path(path)


def _still_of(kind: str, input: Optional[Path], source: Any) -> Any:
    """The still image dreamed (:class:`vis.engine._images.Still`): an image input as read, or the video's frame
    (the first of its section) for a frame; ``None`` for other kinds."""
    from vis.engine._images import Still, load_image_alpha

    if kind == "image":
        return load_image_alpha(input)
    if kind != "frame":
        return None
    frame = next(iter(source))
    return Still(frame, None, 8)


def _open_displays(opts: _Options, request: _Request, source: Any, given: set[str]) -> Any:
    """Open and close the window and the virtual camera once, so that they fail now, not after the model is built;
    open the server of ``--serve`` and say where it is (a browser can wait there while the model loads). Returns the
    server (a :class:`vis.engine._served.ServedStream`), or None."""
    if request.preview:
        from vis.engine._display import NoDisplayError, Preview

        try:
            Preview().close()
        except NoDisplayError as e:
            if "preview" in given:
                raise
            raise NoDisplayError(f"a webcam without -o is shown in a window: {e}") from None
    if opts.virtual_cam and source is not None:
        from vis.engine._display import VirtualCamera

        VirtualCamera(source.width, source.height, source.fps).close()
    if opts.serve is None:
        return None
    from vis.engine._served import ServedStream

    served = ServedStream(*opts.serve)
    typer.echo(f"serving the dream at {served.url} (MJPEG at {served.url}stream)")
    return served


def _capped_for_cpu(opts: _Options, request: _Request) -> _Request:
    """A webcam on the CPU without --max-size is dreamed at most ``WEBCAM_CPU_MAX_SIZE`` long, for speed."""
    if request.kind != "webcam" or opts.max_size is not None or runs_on_gpu(opts.provider, opts.backend):
        return request
    return dataclasses.replace(request, max_size=WEBCAM_CPU_MAX_SIZE, webcam_capped=True)


def _input_sizes(opts: _Options, request: _Request, shape: Optional[tuple[int, int]],
                 given: set[str]) -> list[tuple[int, int]]:
    """The (h, w) inputs the network will see for an input of ``shape`` (none for a folder, whose images are checked
    as they come), saying when it has room for fewer --octaves than typed or --cuda-graph cannot capture it."""
    from vis.engine._dream_sizes import host_loop_note, network_inputs, octaves_note

    if shape is None:
        return []
    config, max_size = request.config, request.max_size
    kind = "image" if request.kind == "frame" else request.kind
    sizes = network_inputs(kind, shape, max_size, opts.zoom_frames, config, request.video_config)
    if "octaves" in given and (note := octaves_note(shape, max_size, config)):
        typer.echo(note, err=True)
    if opts.cuda_graph and opts.loop == "auto" and (note := host_loop_note(shape, max_size, config)):
        typer.echo(note, err=True)
    return sizes


# ---- run and report ---------------------------------------------------------------------------------------------

def _run(setup: DreamSetup, opts: _Options, request: _Request, given: set[str], still: Any, source: Any,
         served: Any = None) -> None:
    """Dream the input as its kind asks (``still``: an image input as read), and say what was written."""
    from vis.engine._dream_report import image_summary, zoom_summary

    config, max_size = request.config, request.max_size
    if request.plan is not None:
        typer.echo(dream_folder(setup, request.plan, config, max_size, opts.seed, opts.quiet, "octaves" in given))
    elif request.kind in ("image", "frame") and not opts.zoom_frames:
        written, size = run_image(setup, still.rgb, opts.output, config, max_size, opts.seed, opts.overwrite,
                                  opts.quiet, still.alpha, still.bits)
        input_size = (still.rgb.shape[1], still.rgb.shape[0])
        frame = f"the frame {source.start_time:.2f} s into {opts.input}" if request.kind == "frame" else ""
        typer.echo(image_summary(written, size, input_size, max_size, frame))
    elif request.kind == "image":  # Ctrl-C and a failed write are reported by run_zoom, with what the file holds
        n, size, dreamed, rate = run_zoom(setup, still.rgb, opts.output, config, opts.zoom_frames, opts.zoom,
                                          opts.fps, max_size, opts.seed, opts.overwrite, opts.quiet)
        typer.echo(zoom_summary(opts.output, n, size, dreamed, opts.zoom, opts.fps, rate))
    else:
        _run_video(setup, opts, request, source, served)


def _input_facts(opts: _Options) -> dict[str, Any]:
    """The input's part of a dream's record: the file (its name and length in bytes) and where the dream starts."""
    return {"input": opts.input.name, "input_bytes": opts.input.stat().st_size, "start": opts.start or 0.0}


def _dream_record(setup: DreamSetup, opts: _Options, request: _Request) -> Optional[str]:
    """What a video file's dream is of, kept in the output so that --resume goes on only with the same dream: the
    input (its name and length in bytes), where it starts, and every setting that changes the frames; not the
    backend, provider, tile or threads, which change only how fast they come. None for a webcam."""
    from vis.engine._resume import dream_record

    if opts.input is None:
        return None
    dream = {key: value for key, value in dataclasses.asdict(request.config).items() if key != "tile"}
    weights = Path(setup.weights).name if Path(setup.weights).suffix else setup.weights
    return dream_record(**_input_facts(opts), model=setup.model_name, weights=weights, objective=str(setup.objective),
                        guide=opts.guide.name if opts.guide else None, max_size=request.max_size, seed=opts.seed,
                        dream=dream, video=dataclasses.asdict(request.video_config))


def _run_video(setup: DreamSetup, opts: _Options, request: _Request, source: Any, served: Any = None) -> None:
    """Dream a video file or a webcam, say what was written, and fail when the source ended early (Ctrl-C and a
    failed write are reported by run_video, with what the file holds)."""
    from vis.engine._dream_report import VideoDreamRun

    if request.webcam_capped:
        live = "webcam" if isinstance(opts.webcam, int) else "live stream"
        typer.echo(f"{live} on the CPU: dreaming at most {request.max_size} px a side, for speed (--max-size to "
                   "change)")
    kept = request.stopped.frames if request.stopped is not None else 0  # --max-frames counts them
    done, rate, size, dropped = run_video(setup, source, opts.output, request.config, request.video_config,
                                          request.max_size, opts.seed, opts.overwrite, request.preview,
                                          opts.virtual_cam, opts.max_frames and opts.max_frames - kept,
                                          quiet=opts.quiet, served=served, stopped=request.stopped,
                                          record=_dream_record(setup, opts, request))
    run = VideoDreamRun(source, opts.input, opts.output, done, rate, size, dropped, kept)
    lines, ended_early = run.finish(opts.quiet)
    for line in lines:
        typer.echo(line)
    if ended_early is not None:
        raise ended_early
