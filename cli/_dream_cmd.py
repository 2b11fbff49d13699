"""`vis dream`: DeepDream on an image, a zoom video, a video file or a webcam. Thin: check, build, run, report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer

from vis._text import counted
from vis.cli._app import MAX_SEED, MAX_THREADS, VisTyper, fail, given_options, option_flag, quiet_option
from vis.cli._dream_batch import dream_folder, folder_summary, plan_folder
from vis.cli._dream_checks import (
    DEMO_OPTIONS, check_options_apply, check_output_for, network_inputs, octaves_note,
)
from vis.cli._dream_demo import run_demo
from vis.cli._dream_runs import crop_note, run_image, run_video, run_zoom
from vis.cli._dream_setup import build_setup
from vis.cli._model_cmds import WEIGHTS_HELP
from vis.engine._animated import GIF_MAX_FPS
from vis.engine._dream import GUIDE_SIDE, VideoDreamConfig  # their defaults are the options' defaults


def _config(octaves: int, octave_scale: float, iterations: int, step: float, jitter: int, tile: int) -> Any:
    from vis.engine._dream import DreamConfig

    return DreamConfig(octaves=octaves, octave_scale=octave_scale, iterations=iterations, step=step, jitter=jitter, tile=tile)


# ---- the command ------------------------------------------------------------------------------------------------

def register(app: VisTyper) -> None:
    from vis.engine._dream import GPU_TILE, MAX_STEP, WEBCAM_CPU_MAX_SIZE, DreamConfig, default_tile, runs_on_gpu

    d, v = DreamConfig(), VideoDreamConfig()

    @app.command("dream")
    def dream_cmd(
        ctx: typer.Context,
        input: Optional[Path] = typer.Argument(None, help="An image, a video file or a folder of images (or use --webcam N / --demo)."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output image or video (by extension); a folder for a folder input. --demo: a folder, or the image's (or video's) name."),
        webcam: Optional[int] = typer.Option(None, "--webcam", min=0, max=2**31 - 1, help="Dream webcam N in real time (previews without -o)."),
        demo: bool = typer.Option(False, "--demo", help="Dream a bundled photo with EfficientNet-Lite0 at the demo's own settings (takes only -o, --backend, --provider, --threads, --seed, --overwrite, -q); needs no download."),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Model (default: googlenet if its ImageNet weights are here, else efficientnet_lite0)."),
        weights: Optional[str] = typer.Option(None, "--weights", "-w", help=WEIGHTS_HELP),
        objective: Optional[str] = typer.Option(None, "--objective", help="Objective, e.g. inception4c, inception4c:97, a+0.5*b (default: the model's dream layer)."),
        octaves: int = typer.Option(d.octaves, "--octaves", min=1, help="Pyramid levels."),
        octave_scale: float = typer.Option(d.octave_scale, "--octave-scale", help="Size ratio between octaves."),
        iterations: int = typer.Option(d.iterations, "--iterations", min=1, help="Steps per octave."),
        step: float = typer.Option(d.step, "--step", help=f"Step size (8-bit pixel units, gradient / mean|g|; at most {MAX_STEP:g})."),
        jitter: int = typer.Option(d.jitter, "--jitter", min=0, help="Random roll per step, pixels (an image larger than --tile rolls by up to a tile instead, so seams move)."),
        tile: Optional[int] = typer.Option(None, "--tile", min=64, help=f"Larger images are dreamed in tiles of at most this size (default {d.tile} on the CPU, {GPU_TILE} on a GPU provider)."),
        guide: Optional[Path] = typer.Option(None, "--guide", help=f"Guide image: dream towards its features (objective guide:LAYER; the layer is inception3b for GoogLeNet, as in the DeepDream seminar's guided dream, and the model's default layer for the others), taken with the long side at --max-size ({GUIDE_SIDE} when unset)."),
        max_size: Optional[int] = typer.Option(None, "--max-size", min=32, help=f"Dream at most this long side (videos keep their size). Default: full size ({WEBCAM_CPU_MAX_SIZE} for a webcam on the CPU)."),
        seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="Random seed of the jitter: the same seed gives the same result."),
        zoom_frames: int = typer.Option(0, "--zoom-frames", min=0, help="Image input: dream, zoom, repeat this many frames into a video."),
        zoom: float = typer.Option(0.05, "--zoom", help="Zoom per frame: the centre 1 - ZOOM of each dream fills the next frame (0.05: 95%)."),
        fps: float = typer.Option(25.0, "--fps", help="Frame rate of a zoom video."),
        blend: float = typer.Option(v.blend, "--blend", help="Video: weight of the flow-warped previous dream (0 = no temporal coherence)."),
        iterations_per_frame: int = typer.Option(v.iterations_per_frame, "--iterations-per-frame", min=0, help="Video: steps per octave after the first frame."),
        octaves_per_frame: int = typer.Option(v.octaves_per_frame, "--octaves-per-frame", min=1, help="Video: octaves after the first frame."),
        flow: str = typer.Option(v.flow, "--flow", help="Optical flow: dis (default, 1.8-3x faster than farneback), farneback or none."),
        flow_size: int = typer.Option(v.flow_size, "--flow-size", min=0, help="Video: long side the optical flow is "
                                      "computed at, at least 16 (0 = the dream's size)."),
        max_frames: int = typer.Option(0, "--max-frames", min=0, max=2**62, help="Stop after this many frames (0 = all)."),
        preview: bool = typer.Option(False, "--preview", help="Show the result in a window (q, Esc or closing it stops)."),
        virtual_cam: bool = typer.Option(False, "--virtual-cam", help="Send the result to a virtual camera (pyvirtualcam)."),
        backend: str = typer.Option("ort", "--backend", help="ort (ONNX Runtime gradient graphs) or torch (autograd)."),
        provider: str = typer.Option("auto", "--provider", help="ORT execution provider: auto, cpu, cuda, tensorrt."),
        threads: int = typer.Option(0, "--threads", min=0, max=MAX_THREADS, help="Intra-op threads (0 = all cores)."),
        loop: str = typer.Option("auto", "--loop", help="ort backend: keep the image on the device between steps "
                                 "(device), on the host (host), or device on a GPU provider and host on cpu (auto)."),
        cuda_graph: bool = typer.Option(False, "--cuda-graph", help="Capture the device loop's steps as CUDA graphs "
                                        "(--provider cuda; one graph per octave size)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
        skip_existing: bool = typer.Option(False, "--skip-existing", help="Folder input: keep the dreams already in "
                                           "the output folder and dream the rest (go on after Ctrl-C)."),
        quiet: bool = quiet_option(),
    ) -> None:
        """DeepDream an image, a folder of images, a video file or a webcam (octaves, jitter, tiles, zoom, temporally
        coherent video)."""
        from vis.engine._audio import NO_AUDIO, copy_audio
        from vis.engine._backend import check_backend
        from vis.engine._bench import peak_memory_mib
        from vis.engine._images import load_image_alpha
        from vis.engine._video import VideoSourceError, WebcamSource, open_video, sniff_kind
        from vis.models import list_models

        t0 = time.perf_counter()
        given = given_options(ctx)
        if demo:  # the demo's own settings: say which typed options it would ignore, before anything else
            ignored = sorted(given - DEMO_OPTIONS, key=[p.name for p in ctx.command.params].index)
            if ignored:
                raise fail(f"--demo dreams its own photo with EfficientNet-Lite0 at its own settings; drop "
                           f"{', '.join(option_flag(ctx, name) for name in ignored)} (or drop --demo)")
        check_backend(backend, provider, loop, cuda_graph)  # before the demo too: a misspelt provider fails before any model loads
        if demo:
            run_demo(output, backend, provider, threads, seed, overwrite, quiet)
            return
        if (input is None) == (webcam is None):
            raise fail("give one input: an image or video file, a folder of images, or --webcam N (or --demo)")
        config = _config(octaves, octave_scale, iterations, step, jitter, tile or default_tile(provider, backend))
        video_config = VideoDreamConfig(blend, iterations_per_frame, octaves_per_frame, flow, flow_size or None)
        if input is not None and not input.exists() and str(input) in list_models():
            raise fail(f"{input} is a model: name it with --model (vis dream INPUT -m {input} -o OUTPUT)")
        kind = "webcam" if webcam is not None else "folder" if input.is_dir() else sniff_kind(input)
        check_options_apply(kind, zoom_frames, given, octaves, octaves_per_frame, blend, flow)
        plan = plan_folder(input, output, overwrite, skip_existing) if kind == "folder" else None
        if plan is None:
            check_output_for(kind, input, output, zoom_frames, zoom, fps, overwrite, guide)
        else:
            typer.echo(folder_summary(plan))
        if virtual_cam:
            from vis.engine._display import check_virtual_cam

            check_virtual_cam()  # a missing pyvirtualcam fails now, not after the model is built
        if kind == "webcam" and output is None and not virtual_cam:
            preview = True
        if kind == "video" and output is None and not (preview or virtual_cam):
            raise fail("a video input needs -o OUTPUT.mp4 (or --preview)")
        # open the source before the (slow) model so bad inputs fail fast
        source = WebcamSource(webcam) if kind == "webcam" else open_video(input) if kind == "video" else None
        try:
            # the window and the virtual camera fail now, not after the model is built
            if preview:
                from vis.engine._display import NoDisplayError, Preview

                try:
                    Preview().close()
                except NoDisplayError as e:
                    if "preview" in given:
                        raise
                    raise NoDisplayError(f"a webcam without -o is shown in a window: {e}") from None
            if virtual_cam and source is not None:
                from vis.engine._display import VirtualCamera

                VirtualCamera(source.width, source.height, source.fps).close()
            webcam_on_cpu = kind == "webcam" and max_size is None and not runs_on_gpu(provider, backend)
            if webcam_on_cpu:
                max_size = WEBCAM_CPU_MAX_SIZE
            picture, alpha = load_image_alpha(input) if kind == "image" else (None, None)  # read once
            input_shape = picture.shape[:2] if picture is not None else (source.height, source.width) if source else None
            input_sizes = []  # a folder's images are each checked as they come
            if input_shape is not None:
                input_sizes = network_inputs(kind, input_shape, max_size, zoom_frames, config, video_config)
                if "octaves" in given and (note := octaves_note(input_shape, max_size, config)):
                    typer.echo(note)
                from vis.engine._images import fitted_size

                dreamed = max(fitted_size(input_shape, max_size))
                if cuda_graph and loop == "auto" and dreamed > config.tile:  # the host loop tiles it, uncaptured
                    typer.echo(f"note: --cuda-graph captures the device loop, which dreams images of up to --tile "
                               f"{config.tile} px a side; this one ({dreamed} px) is tiled on the host loop without "
                               "CUDA graphs (--max-size or --tile to change)")
            setup = build_setup(model, weights, objective, guide, backend, provider, threads, max_size, loop=loop,
                                cuda_graph=cuda_graph, input_sizes=input_sizes, min_size=config.min_size)
            typer.echo(f"{setup.model_name} ({setup.weights}) objective {setup.objective}, {backend} backend")
            if plan is not None:
                typer.echo(dream_folder(setup, plan, config, max_size, seed, quiet, "octaves" in given))
            elif kind == "image" and not zoom_frames:
                written = run_image(setup, picture, output, config, max_size, seed, overwrite, quiet, alpha)
                typer.echo(f"wrote {written}")
            elif kind == "image":  # Ctrl-C and a failed write are reported by run_zoom, with what the file holds
                n, (w, h), dreamed = run_zoom(setup, picture, output, config, zoom_frames, zoom, fps, max_size, seed,
                                              overwrite, quiet)
                typer.echo(f"wrote {output} ({counted(n, 'frame')}, {w}x{h}, zoom {zoom:g} per frame"
                           f"{crop_note((w, h), dreamed)})")
            else:
                if webcam_on_cpu:
                    typer.echo(f"webcam on the CPU: dreaming at most {max_size} px a side, for speed (--max-size "
                               "to change)")
                # Ctrl-C and a failed write are reported by run_video, with what the file holds
                done, rate, (w, h), dropped = run_video(setup, source, output, config, video_config, max_size, seed,
                                                        overwrite, preview, virtual_cam, max_frames, quiet=quiet)
                if output is not None and source.live:
                    typer.echo(f"wrote {output} ({counted(done, 'frame')}, {w}x{h}, timed as they were "
                               f"dreamed: {rate:.2f} fps)")
                elif output is not None:
                    # the output keeps the input's size (the dream is scaled back up), less odd rows and columns
                    cropped = crop_note((w, h), (source.width, source.height))
                    # a GIF leaves out frames that come sooner than it can show them (a 60 fps input)
                    rate_kept = ", variable frame rate kept," if source.variable_rate else f" at {source.fps:g} fps,"
                    timing = (f"; {dropped} of the {source.fps:g} fps input's frames left out, as a GIF plays at "
                              f"most {GIF_MAX_FPS} a second;" if dropped else rate_kept)
                    typer.echo(f"wrote {output} ({counted(done, 'frame')}, {w}x{h}{timing} "
                               f"{rate:.2f} fps dreamed{cropped})")
                else:  # a window or a virtual camera: what was shown
                    typer.echo(f"{counted(done, 'frame')} dreamed at {rate:.2f} fps")
                if source.live and source.dropped:  # why a 30 fps camera gives a 4 fps recording
                    typer.echo(f"webcam {webcam}: {counted(source.dropped, 'frame')} skipped, as they came while a "
                               "dream was made (the newest frame is always the one dreamed)")
                kept = (f"{output} holds the {counted(done, 'frame')} done" if output is not None
                        else f"{counted(done, 'frame')} dreamed")
                if kind == "video" and output is not None and not source.animated:  # an image format has no sound
                    report = copy_audio(input, output)  # a cut input's too: the sound of the frames there were
                    if not (quiet and report == NO_AUDIO):
                        typer.echo(report)
                if source.truncated:
                    raise VideoSourceError(f"{input} ended after {source.frames_read} of {source.frame_count} frames "
                                           f"(truncated or corrupt); {kept}")
                if source.lost:  # the camera ended the run, not the user
                    raise VideoSourceError(f"webcam {webcam} {source.lost} after {counted(source.frames_read, 'frame')} "
                                           f"(unplugged, or taken by another program?); {kept}")
        finally:
            if source is not None:
                source.close()
        typer.echo(f"done in {time.perf_counter() - t0:.1f} s, peak memory {peak_memory_mib():.0f} MiB")
