"""`vis filters | features | saliency | cam | patches | embed`: looking inside a network. Thin: parse, call, save."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from vis._text import counted, cut_left, first_few, quoted_class
from vis.cli._app import CountProgress, MAX_THREADS, VisTyper, given_options, quiet_option, torch_threads_option
from vis.cli._model_cmds import WEIGHTS_HELP
from vis.cli._stills import none_read, read_still, read_stills, refuse_skipped

OUT_HELP = "The figure to write (.png, .jpg, .tif, .webp, .pdf, .svg; .png is added to a name without suffix)."
NPY_HELP = "Also save the raw numbers as a .npy file."
MANY_MAPS = 512  # feature maps in a figure above which its drawing is announced
CLASS_HELP = ("Class to explain: its index (281) or its name as `vis predict` prints it (tabby, 'Egyptian cat'); "
              "default: the predicted one.")


def _outputs(output: Path, npy: Optional[Path], overwrite: bool, inputs: Sequence[Path] = ()) -> tuple[Path, Optional[Path]]:
    """The files that will really be written (a figure without suffix gets .png, numbers get .npy), checked before
    any slow work; none may be one of the ``inputs``."""
    from vis.engine._images import check_output
    from vis.engine._plots import check_figure_output

    output = check_figure_output(output, overwrite, inputs)
    if npy is not None:
        npy = check_output(npy_path(npy), overwrite, inputs)
    return output, npy


def npy_path(path: Path) -> Path:
    """numpy's own rule, .npy added to a name without it, named here for checks and messages; a folder is refused
    before the suffix is added, as for figures."""
    from vis.engine._images import refuse_non_file

    refuse_non_file(path)
    return path if path.suffix.lower() == ".npy" else path.with_name(path.name.rstrip(".") + ".npy")


def _save_npy(npy: Optional[Path], array: np.ndarray, overwrite: bool) -> None:
    """Write the numbers to ``npy`` as :func:`_outputs` returned it (named and checked already)."""
    if npy is not None:
        from vis.engine._images import write_rendered

        # a file object: numpy adds no second .npy to .NPY, and a full disk is an OSError of ours
        write_rendered(npy, lambda buffer: np.save(buffer, array), overwrite)
        typer.echo(f"wrote {npy} {tuple(array.shape)}")


def _folder(images: Path, model: str, files: list[Path], quiet: bool, min_count: int = 1):
    from vis.engine._inspect import scan_images

    reading = CountProgress(f"reading {images}:", "files", enabled=not quiet)
    found = scan_images(images, min_count=min_count, model_name=model, files=files, progress=reading)
    unread = found.unreadable
    read_failed = set(unread)
    others = [p for p in found.skipped if p not in read_failed]
    named = lambda paths: first_few([str(p.relative_to(images)) for p in paths])  # noqa: E731
    note = f"; {len(unread)} could not be read ({named(unread)})" if unread else ""  # in the exit code at the end
    note += f"; skipped {counted(len(others), 'other file')} ({named(others)})" if others else ""
    if found.animated:
        note += f"; of {counted(len(found.animated), 'animation')}, only the first frame is used"
    typer.echo(f"{images}: {counted(len(found.paths), 'image')}{note}")
    return found


def _refuse_unread(found) -> None:
    """After the outputs are written: images of the folder that could not be decoded are in the exit code, as in
    predict and a folder's dream (a script sees them there, the user in the folder's line above)."""
    from vis.errors import VisError

    if found.unreadable:
        total = len(found.paths) + len(found.unreadable)
        raise VisError(f"{len(found.unreadable)} of the {counted(total, 'image')} could not be read (said above)")


def _class_and_provider(model: str, klass: Optional[str], provider: str) -> Optional[int]:
    """The index of ``--class`` (a number, or a name as in `vis predict`: 'tabby', 'Egyptian cat' or Egyptian_cat);
    fails on a class the model lacks or a provider this machine lacks, before the model loads."""
    from vis.engine._session import resolve_provider
    from vis.exporters._objective_spec import class_index
    from vis.models import model_spec

    categories = model_spec(model).categories
    index = None if klass is None else class_index(klass, categories, len(categories), model, "given to --class")
    resolve_provider(provider)
    return index


def _class_named(model: str, index: int) -> str:
    """``class 281 'tabby'``: the number a script can use and the name a person reads."""
    from vis.models import model_spec

    return f"class {index}" + quoted_class(model_spec(model).categories, index)


def _row_names(paths: list[Path]) -> list[str]:
    """Each image's file name, or its path as given where two names are alike (cat/0.png, dog/0.png)."""
    names = [p.name for p in paths]
    return [str(p) if names.count(n) > 1 else n for p, n in zip(paths, names)]


def _session(provider: str, threads: int):
    from vis.engine._session import SessionConfig

    return SessionConfig(provider, threads)


def _title_classes(model: str, logits: np.ndarray, explained: int) -> str:
    from vis.engine._predict import top_classes
    from vis.models import model_spec

    cats = model_spec(model).categories
    top = ", ".join(f"{name} {p:.0%}" for _, name, p in top_classes(logits, cats, 3))
    return f"class {explained} ({cats[explained]}); top: {top}"


def _echo_crop(model: str, pictures: list[np.ndarray], names: list[str]) -> None:
    """Say which part of each picture the figure shows: the model's evaluation crop (the shorter side resized, the
    centre cut out), not the whole photo."""
    from vis.models import model_spec
    from vis.models._preprocess import crop_in_image

    pre = model_spec(model).preprocessing
    for picture, name in zip(pictures, names):
        (h, w), (ch, cw) = picture.shape[:2], crop_in_image(picture.shape[:2], pre)
        if (ch, cw) != (h, w):
            typer.echo(f"{name}: the figure shows the centre {cw}x{ch} of its {w}x{h} px, as {model} sees it "
                       f"(shorter side to {pre.resize}, centre {pre.crop}x{pre.crop})")


def register(app: VisTyper) -> None:
    @app.command("filters")
    def filters_cmd(
        model: str = typer.Argument(..., help="Model name (see `vis models`)."),
        layer: Optional[str] = typer.Option(None, "--layer", "-l", help="A convolution layer (e.g. conv1, conv1_1, "
                                            "stem); default: the first, whose filters see RGB."),
        output: Path = typer.Option(..., "--output", "-o", help=OUT_HELP),
        weights: str = typer.Option("imagenet", "--weights", "-w", help=WEIGHTS_HELP),
        limit: int = typer.Option(64, "--limit", min=1, help="Show at most this many filters."),
        npy: Optional[Path] = typer.Option(None, "--npy", help=NPY_HELP + " Raw weights (O, I, kh, kw)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    ) -> None:
        """Filter weights of a convolution, each min-max normalised; RGB first-layer filters in colour."""
        from vis.engine._inspect import conv_layers, filter_weights, layer_info, normalize_filters
        from vis.engine._plots import plot_filters
        from vis.models import get_model

        if layer is not None:
            layer_info(model, layer)  # a bad name fails before the weights load
        output, npy = _outputs(output, npy, overwrite)
        net = get_model(model, weights=weights)
        layer = layer or next(iter(conv_layers(model, net)))
        w = filter_weights(model, net, layer)
        path = plot_filters(normalize_filters(w), output, f"{model} {layer}: {w.shape[0]} filters {w.shape[2]}x{w.shape[3]}"
                            f" over {counted(w.shape[1], 'input channel')}", max_filters=limit,
                            overwrite=overwrite)
        typer.echo(f"wrote {path} ({layer})")
        _save_npy(npy, w, overwrite)

    @app.command("features")
    def features_cmd(
        model: str = typer.Argument(..., help="Model name."),
        images: list[Path] = typer.Argument(..., readable=False, help="Image files (any size; grey and RGBA are converted)."),
        layer: str = typer.Option(..., "--layer", "-l", help="Layer whose activation maps to show."),
        output: Path = typer.Option(..., "--output", "-o", help=OUT_HELP),
        channels: Optional[str] = typer.Option(None, "--channels", "-c", help="Channels: 0:64:4, 5 or 1,3,7 (default: the first 16, or all of a smaller layer)."),
        weights: str = typer.Option("imagenet", "--weights", "-w", help=WEIGHTS_HELP),
        npy: Optional[Path] = typer.Option(None, "--npy", help=NPY_HELP + " Activations (N, K, h, w)."),
        threads: int = torch_threads_option(),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    ) -> None:
        """Activation maps of a layer: a row per image, a column per channel (over 32 channels, a row wraps)."""
        from vis.engine._channels import parse_channels
        from vis.engine._inspect import display_image, feature_maps, layer_info, model_batch
        from vis.engine._plots import plot_feature_maps
        from vis.engine._torch_device import limit_torch_threads
        from vis.models import get_model

        limit_torch_threads(threads)
        info = layer_info(model, layer, spatial=True)
        chosen = parse_channels(channels, info.channels, layer)
        given = images
        images, pictures, skipped = read_stills(given, model)  # an unreadable one is skipped, as predict does
        if not images:
            raise none_read(given, skipped)
        output, npy = _outputs(output, npy, overwrite, given)
        net = get_model(model, weights=weights)
        maps = feature_maps(model, net, pictures, layer, chosen)
        shown = [display_image(x) for x in model_batch(model, pictures)]
        names = _row_names(images)
        if maps.shape[0] * maps.shape[1] > MANY_MAPS:  # a figure of 1000s of maps takes a while to draw: say so
            typer.echo(f"drawing {counted(maps.shape[0] * maps.shape[1], 'map')} into one figure ...", err=True)
        path = plot_feature_maps(maps, chosen, shown, names, output,
                                 f"{model} {layer}: {info.channels} channels, {maps.shape[2]}x{maps.shape[3]}", overwrite=overwrite)
        typer.echo(f"wrote {path}")
        _echo_crop(model, pictures, names)
        _save_npy(npy, maps, overwrite)
        refuse_skipped(given, skipped)  # after the figure, as predict

    @app.command("saliency")
    def saliency_cmd(
        ctx: typer.Context,
        model: str = typer.Argument(..., help="Model name."),
        image: Path = typer.Argument(..., help="Image file (any size; grey and RGBA are converted)."),
        output: Path = typer.Option(..., "--output", "-o", help=OUT_HELP),
        klass: Optional[str] = typer.Option(None, "--class", help=CLASS_HELP),
        samples: int = typer.Option(0, "--samples", min=0, help="SmoothGrad: average over this many noisy copies (0: plain)."),
        noise: float = typer.Option(0.15, "--noise", min=0.0, help="SmoothGrad noise std as a fraction of the pixel spread."),
        weights: str = typer.Option("imagenet", "--weights", "-w", help=WEIGHTS_HELP),
        provider: str = typer.Option("auto", "--provider", help="ONNX Runtime provider: auto, cpu, cuda, tensorrt."),
        threads: int = typer.Option(0, "--threads", min=0, max=MAX_THREADS, help="ORT threads (0: all cores)."),
        npy: Optional[Path] = typer.Option(None, "--npy", help=NPY_HELP + " The map (H, W)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
        quiet: bool = quiet_option(),
    ) -> None:
        """Saliency map (Simonyan et al.): max over channels of |dS_c/dI|; SmoothGrad with --samples."""
        from vis.engine._attribution import Attribution, SaliencyConfig
        from vis.engine._inspect import display_image, model_batch
        from vis.engine._plots import plot_saliency
        from vis.errors import VisError
        from vis.models import get_model

        klass = _class_and_provider(model, klass, provider)
        if "noise" in given_options(ctx) and not samples:
            raise VisError("--noise is SmoothGrad's: it needs --samples N (N >= 1 noisy copies); a plain saliency map "
                           "adds no noise")
        if samples and noise == 0:
            raise VisError("--noise 0 makes every SmoothGrad copy the image itself: give --noise above 0, or drop "
                           "--samples for a plain saliency map")
        picture = read_still(image, model=model)
        output, npy = _outputs(output, npy, overwrite, [image])
        net = get_model(model, weights=weights)
        x = model_batch(model, [picture])
        copies = CountProgress("SmoothGrad:", "noisy copies", enabled=not quiet)
        result = Attribution(model, net, _session(provider, threads), weights).saliency(
            x, klass, SaliencyConfig(samples=samples, noise=noise), progress=copies)[0]
        kind = f"SmoothGrad ({samples} samples, noise {noise:g})" if samples else "saliency"
        path = plot_saliency(display_image(x[0]), result.map, output,
                             f"{model} {kind}\n{_title_classes(model, result.logits, result.class_index)}", overwrite=overwrite)
        typer.echo(f"wrote {path} ({_class_named(model, result.class_index)})")
        if not result.map.any():
            typer.echo(f"note: the map is zero everywhere: no pixel changes the score of {_class_named(model, result.class_index)}"
                       + (" (the noise may drown the image: lower --noise)" if samples else ""), err=True)
        _echo_crop(model, [picture], [image.name])
        _save_npy(npy, result.map, overwrite)

    @app.command("cam")
    def cam_cmd(
        model: str = typer.Argument(..., help="Model name."),
        image: Path = typer.Argument(..., help="Image file (any size; grey and RGBA are converted)."),
        output: Path = typer.Option(..., "--output", "-o", help=OUT_HELP),
        layer: Optional[str] = typer.Option(None, "--layer", "-l", help="Grad-CAM layer (default: the last convolutional maps, before any pooling)."),
        klass: Optional[str] = typer.Option(None, "--class", help=CLASS_HELP),
        method: str = typer.Option("gradcam", "--method", help="gradcam, or cam (global-average-pooled nets only)."),
        weights: str = typer.Option("imagenet", "--weights", "-w", help=WEIGHTS_HELP),
        provider: str = typer.Option("auto", "--provider", help="ONNX Runtime provider: auto, cpu, cuda, tensorrt."),
        threads: int = typer.Option(0, "--threads", min=0, max=MAX_THREADS, help="ORT threads (0: all cores)."),
        npy: Optional[Path] = typer.Option(None, "--npy", help=NPY_HELP + " The raw map at layer resolution (h, w)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    ) -> None:
        """Grad-CAM (Selvaraju et al.) or CAM (Zhou et al.) heatmap over the image, predicted classes in the title."""
        from vis.engine._attribution import Attribution, plain_cam_layer
        from vis.engine._inspect import display_image, layer_info, model_batch
        from vis.engine._plots import plot_cam
        from vis.errors import UnknownNameError, VisError
        from vis.models import get_model

        klass = _class_and_provider(model, klass, provider)
        if method not in ("gradcam", "cam"):
            raise UnknownNameError("CAM method", method, ["gradcam", "cam"])
        if layer is not None:
            layer_info(model, layer, spatial=True)
        if method == "cam":  # checked before the weights load (a download, for VGG-19)
            cam_layer = plain_cam_layer(model)
            if layer is not None and layer != cam_layer:
                raise VisError(f"plain CAM reads {cam_layer} of {model} (the maps before the pooling); "
                               f"drop --layer or use --method gradcam")
        picture = read_still(image, model=model)
        output, npy = _outputs(output, npy, overwrite, [image])
        attr = Attribution(model, get_model(model, weights=weights), _session(provider, threads), weights)
        x = model_batch(model, [picture])
        if method == "cam":
            result = attr.cam(x, klass)[0]
        else:
            result = attr.grad_cam(x, layer or attr.default_cam_layer(), klass)[0]
        name = "Grad-CAM" if method == "gradcam" else "CAM"
        path = plot_cam(display_image(x[0]), result.heatmap, output,
                        f"{model} {name} at {result.layer}\n{_title_classes(model, result.logits, result.class_index)}",
                        overwrite=overwrite)
        typer.echo(f"wrote {path} ({_class_named(model, result.class_index)}, layer {result.layer})")
        if not result.heatmap.any():  # Grad-CAM keeps what raises the class: a blank figure is an answer, say it
            typer.echo(f"note: the map is zero everywhere: nothing at {result.layer} raises the score "
                       f"of {_class_named(model, result.class_index)}, so the figure shows no heat", err=True)
        _echo_crop(model, [picture], [image.name])
        _save_npy(npy, result.cam, overwrite)

    @app.command("patches")
    def patches_cmd(
        model: str = typer.Argument(..., help="Model name."),
        layer: str = typer.Option(..., "--layer", "-l", help="Spatial layer."),
        channel: int = typer.Option(..., "--channel", "-c", help="Channel (unit) of the layer."),
        images: Path = typer.Option(..., "--images", help="Folder of images (searched recursively; other files skipped)."),
        output: Path = typer.Option(..., "--output", "-o", help=OUT_HELP),
        k: int = typer.Option(9, "-k", min=1, help="How many patches."),
        weights: str = typer.Option("imagenet", "--weights", "-w", help=WEIGHTS_HELP),
        npy: Optional[Path] = typer.Option(None, "--npy", help=NPY_HELP + " The patches as drawn (k, P, P, 3): RGB in [0, 1], a receptive field under 8 px or larger than the model input resized to fit."),
        threads: int = torch_threads_option(),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
        quiet: bool = quiet_option(),
    ) -> None:
        """The image patches of a folder that activate one unit most, cropped to its receptive field."""
        from vis.engine._folders import files_under
        from vis.engine._inspect import check_image_folder, layer_info
        from vis.engine._patches import top_patches
        from vis.engine._plots import plot_patches
        from vis.engine._torch_device import limit_torch_threads
        from vis.errors import VisError
        from vis.models import get_model, model_spec

        limit_torch_threads(threads)
        info = layer_info(model, layer, spatial=True)
        if not 0 <= channel < info.channels:
            raise VisError(f"channel {channel} is out of range: layer {layer} of {model} has {info.channels} channels "
                           f"(0..{info.channels - 1})")
        check_image_folder(images)  # a missing folder is reported before an existing output
        files = files_under(images)
        output, npy = _outputs(output, npy, overwrite, files)  # a figure must not replace a photo
        found = _folder(images, model, files, quiet)
        net = get_model(model, weights=weights)
        running = CountProgress(f"{model} to {layer}:", "images", enabled=not quiet)
        patches, rf = top_patches(model, net, found.images, layer, channel, k, progress=running)
        captions = [f"{cut_left(found.paths[p.index].relative_to(images).as_posix(), 22)} {p.activation:.3g}"
                    for p in patches]  # a caption-sized name: its end, the file and the folder just above it
        path = plot_patches([p.pixels for p in patches], captions, output,
                            f"{model} {layer}:{channel}, receptive field {rf.size}px, stride {rf.stride}", overwrite=overwrite)
        fewer = f", not {k}: one per image, and the folder has {len(patches)}" if len(patches) < k else ""
        shown = patches[0].pixels.shape[0] if patches else rf.size
        scaled = f", each shown at {shown}px" if shown != rf.size else ""  # a tiny field is enlarged to be seen
        count = counted(len(patches), "patch", "patches")
        typer.echo(f"wrote {path} ({count}{fewer}, receptive field {rf.size}px{scaled})")
        crop = model_spec(model).preprocessing.crop
        if rf.size > crop:
            typer.echo(f"note: {layer}'s receptive field ({rf.size}px) is larger than the {crop}px input: each patch "
                       f"is the whole image, grey where the field lies outside it; an earlier layer gives parts", err=True)
        elif any(min(p.box[2] - p.box[0], p.box[3] - p.box[1]) < rf.size for p in patches):
            typer.echo("grey in a patch is where its unit's field reaches past the image's border")
        _save_npy(npy, np.stack([p.pixels for p in patches]), overwrite)
        _refuse_unread(found)

    @app.command("embed")
    def embed_cmd(
        model: str = typer.Argument(..., help="Model name."),
        images: Path = typer.Option(..., "--images", help="Folder of images; a subfolder per class labels them."),
        layer: str = typer.Option(..., "--layer", "-l", help="Layer whose globally pooled features are embedded."),
        output: Path = typer.Option(..., "--output", "-o", help=OUT_HELP),
        perplexity: float = typer.Option(30.0, "--perplexity", min=1.0, help="t-SNE perplexity (capped for small sets)."),
        weights: str = typer.Option("imagenet", "--weights", "-w", help=WEIGHTS_HELP),
        npy: Optional[Path] = typer.Option(None, "--npy", help=NPY_HELP + " The 2-D coordinates (N, 2)."),
        threads: int = torch_threads_option(),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
        quiet: bool = quiet_option(),
    ) -> None:
        """t-SNE map of a folder's images by their pooled features, with thumbnails, coloured by label."""
        from vis.engine._folders import files_under
        from vis.engine._inspect import check_image_folder, display_image, layer_info, model_batch
        from vis.engine._patches import pooled_features, tsne_embedding, tsne_perplexity
        from vis.engine._plots import EMBED_THUMB_POINTS, plot_embedding, thumbnail_spots
        from vis.engine._torch_device import limit_torch_threads
        from vis.models import get_model, model_spec

        limit_torch_threads(threads)
        layer_info(model, layer)
        check_image_folder(images)  # a missing folder is reported before an existing output
        files = files_under(images)
        output, npy = _outputs(output, npy, overwrite, files)
        found = _folder(images, model, files, quiet, min_count=3)
        net = get_model(model, weights=weights)
        used = tsne_perplexity(perplexity, len(found.images))
        if used != perplexity:
            typer.echo(f"perplexity {used:.3g}, not {perplexity:g}: {len(found.images)} images allow no more (about a "
                       f"third of them as neighbours)")
        running = CountProgress(f"{model} to {layer}:", "images", enabled=not quiet)
        features = pooled_features(model, net, found.images, layer, progress=running)
        if not quiet:  # t-SNE says nothing while it works: 18 s for 3,000 images here
            typer.echo(f"t-SNE of {counted(len(features), 'image')}, then the figure", err=True)
        points = tsne_embedding(features, perplexity)
        crop = model_spec(model).preprocessing.crop
        zoom = EMBED_THUMB_POINTS / crop  # LeNet's digits enlarged, photos shrunk, to one size
        shown = thumbnail_spots(points, EMBED_THUMB_POINTS)
        thumbs = dict(zip(shown, map(display_image, model_batch(model, [found.images[i] for i in shown]))))
        labels = found.labels if found.has_labels else None
        path = plot_embedding(points, thumbs, labels, output, f"{model} {layer}: t-SNE of {len(points)} images",
                              zoom=zoom, overwrite=overwrite)
        covered = ""
        if len(shown) < len(points):
            covered = f"; thumbnails for {len(shown)} of them, dots for the rest, which would cover those"
        typer.echo(f"wrote {path} ({counted(len(points), 'image')}{covered})")
        _save_npy(npy, points, overwrite)
        _refuse_unread(found)
