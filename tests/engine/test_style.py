"""Neural style transfer: the thesis's loss normalisations, convergence and every option on tiny images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vis.engine._style import (
    StyleConfig,
    StyleProgress,
    content_loss,
    gram,
    rgb_to_ycrcb,
    resize_long_side,
    style_layer_loss,
    style_transfer,
    tv_loss,
)
from vis.errors import UnknownNameError, VisError
from vis.models import get_model


@pytest.fixture(scope="module")
def vgg() -> torch.nn.Module:
    return get_model("vgg19", weights="random", seed=0)


def _content(h: int = 48, w: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] / 32.0
    return np.stack([0.5 + 0.4 * np.sin(3 * xx), 0.5 + 0.4 * np.cos(2 * yy), 0.5 + 0.3 * np.sin(xx + yy)], -1).astype(np.float32)


def _style(h: int = 64, w: int = 64, f: float = 20.0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] / 64.0
    bands = np.stack([np.sin(f * xx) > 0, np.sin(0.7 * f * yy) > 0, np.sin(0.5 * f * (xx + yy)) > 0], -1)
    return (bands * 0.8 + 0.1).astype(np.float32)


def test_losses_follow_the_thesis() -> None:
    gen = torch.Generator().manual_seed(0)
    a_g, a_c = torch.rand(1, 5, 3, 4, generator=gen), torch.rand(1, 5, 3, 4, generator=gen)
    n_h, n_w, n_f = 3, 4, 5
    assert float(content_loss(a_g, a_c)) == pytest.approx(float(((a_c - a_g) ** 2).sum()) / (4 * n_h * n_w * n_f))
    A_g, A_s = a_g[0].reshape(n_f, -1).T, a_c[0].reshape(n_f, -1).T  # (n_H n_W) x n_F
    G_g, G_s = A_g.T @ A_g, A_s.T @ A_s
    expected = float(((G_s - G_g) ** 2).sum()) / (4 * n_f**2 * (n_h * n_w) ** 2)
    assert float(style_layer_loss(a_g, gram(a_c))) == pytest.approx(expected, rel=1e-5)
    img = torch.zeros(1, 3, 4, 4)
    img[..., :, 2:] = 1.0  # one vertical edge: 1/3 of horizontal neighbour pairs differ by 1
    assert float(tv_loss(img)) == pytest.approx(1 / 3)


def test_style_loss_falls_tenfold_content_bounded(vgg: torch.nn.Module) -> None:
    reports: list[StyleProgress] = []
    out = style_transfer(_content(), [_style()], StyleConfig(size=48, iterations=25, device="cpu"), vgg, reports.append)
    assert out.shape == (36, 48, 3) and out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0
    assert len(reports) == 25 and reports[-1].iteration == 25
    assert reports[0].style / reports[-1].style >= 10.0
    assert reports[0].content == 0.0  # starts from the content image
    # The content loss stays below what an unrelated (noise) image costs.
    noise = StyleConfig(size=48, iterations=1, init="noise", style_weight=0.0, device="cpu")
    first: list[StyleProgress] = []
    style_transfer(_content(), [_style()], noise, vgg, first.append)
    assert 0.0 < reports[-1].content < first[0].content


def _run(vgg: torch.nn.Module, content: np.ndarray | None = None, styles: list[np.ndarray] | None = None, **kw: object) -> tuple[np.ndarray, list[StyleProgress]]:
    reports: list[StyleProgress] = []
    config = StyleConfig(**{"size": 32, "iterations": 3, "device": "cpu", **kw})  # type: ignore[arg-type]
    out = style_transfer(_content() if content is None else content, styles or [_style()], config, vgg, reports.append)
    return out, reports


@pytest.mark.parametrize("options", [
    dict(optimizer="adam", lr=0.05),
    dict(init="noise", seed=3),
    dict(content_layer="conv4_2", style_layers=("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")),
    dict(layer_weights=(1.0, 0.5, 0.25, 0.0, 0.0)),
    dict(content_weight=0.0, style_weight=10.0, tv_weight=0.0),
    dict(style_scale=0.5),
])
def test_options_run(vgg: torch.nn.Module, options: dict) -> None:
    out, reports = _run(vgg, **options)
    assert out.shape == (24, 32, 3) and np.isfinite(out).all()
    assert len(reports) == 3 and all(np.isfinite(r.total) for r in reports)
    if options.get("tv_weight") == 0.0:
        assert all(r.content == 0.0 and r.tv == 0.0 for r in reports)


def test_adam_lowers_the_loss(vgg: torch.nn.Module) -> None:
    _, reports = _run(vgg, optimizer="adam", lr=0.05, iterations=10)
    assert reports[-1].style < reports[0].style


def test_noise_start_is_seeded(vgg: torch.nn.Module) -> None:
    a, _ = _run(vgg, init="noise", seed=1)
    b, _ = _run(vgg, init="noise", seed=1)
    c, _ = _run(vgg, init="noise", seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_multiscale(vgg: torch.nn.Module) -> None:
    out, reports = _run(vgg, scales=(32, 48))
    assert out.shape == (36, 48, 3)
    assert [r.scale for r in reports] == [1] * 3 + [2] * 3
    assert reports[0].size == (24, 32) and reports[-1].size == (36, 48) and reports[-1].scales == 2


def test_style_blend(vgg: torch.nn.Module) -> None:
    a, b = _style(f=20.0), _style(48, 40, f=8.0)
    only_a, _ = _run(vgg, styles=[a])
    blend_a, _ = _run(vgg, styles=[a, b], style_blend=(2.0, 0.0))  # normalised to (1, 0)
    np.testing.assert_allclose(blend_a, only_a, atol=1e-5)
    mixed, _ = _run(vgg, styles=[a, b], style_blend=(0.7, 0.3))
    assert not np.allclose(mixed, only_a, atol=1e-4)


def test_preserve_colors_keeps_content_chroma(vgg: torch.nn.Module) -> None:
    content = _content()
    out, _ = _run(vgg, content=content, preserve_colors=True, style_weight=1e4, iterations=3)
    want = rgb_to_ycrcb(resize_long_side(content, 32))[..., 1:]
    got = rgb_to_ycrcb(out)[..., 1:]
    assert np.abs(got - want).mean() < 0.02  # only clipping to [0, 1] may move the chroma
    plain, _ = _run(vgg, content=content, style_weight=1e4, iterations=3)
    assert np.abs(rgb_to_ycrcb(plain)[..., 1:] - want).mean() > np.abs(got - want).mean()


@pytest.mark.parametrize("options, n_styles, message", [
    (dict(optimizer="sgd"), 1, "optimizer"),
    (dict(init="zeros"), 1, "init"),
    (dict(iterations=0), 1, "iterations"),
    (dict(size=8), 1, "at least 16"),
    (dict(layer_weights=(1.0, 2.0)), 1, "2 layer weights for 5 style layers"),
    (dict(layer_weights=(1.0,)), 1, "1 layer weight for 5 style layers"),  # was "1 layer weights"
    (dict(style_blend=(1.0,)), 2, "1 style weight for 2 style images"),
    (dict(style_blend=(1.0, 1.0)), 1, "2 style weights for 1 style image$"),  # was "1 style images"
    (dict(style_blend=(1.0, -1.0)), 2, "non-negative"),
    (dict(style_layers=()), 1, "style layer"),
    (dict(style_scale=0.0), 1, "--style-scale must be a positive"),
    (dict(style_scale=float("inf")), 1, "--style-scale must be a positive number, got inf"),  # was an OverflowError
    (dict(size=64, style_scale=100.0), 1, "a side of 6400 px .output or style image at --style-scale. is above 4096"),
    (dict(size=20000), 1, "a side of 20000 px"),  # was torch's allocator failing with a traceback
    (dict(scales=(64, 32)), 1, "--scales go from coarse to fine"),
    (dict(tv_weight=float("inf")), 1, "--tv-weight must be a number from 0 to 1e.12, got inf"),
    (dict(content_weight=1e40), 1, "--content-weight must be a number from 0"),
    (dict(style_weight=float("nan")), 1, "--style-weight"),
    (dict(layer_weights=(-1.0, 1.0, 1.0, 1.0, 1.0)), 1, "--layer-weights must be a number from 0 to 1e.12, got -1"),
    (dict(), 0, "style image"),
    # 16x12 pools to 2x1 at relu4_*: only relu5_1, past the fourth pooling, is empty (all six were named)
    (dict(size=16), 1, r"the content at 16x12 px is too small for relu5_1 \(the pooling"),
    (dict(size=16, style_scale=0.5), 1, r"--style-scale 0.5 makes the style image 8 px at 16 px: give at least 1 "),
    (dict(size=153, style_scale=0.05), 1, r"give at least 0.11 "),  # 16/153 was shown as 0.1, which fails too
    (dict(optimizer="adam", lr=1e38), 1, "--lr must be above 0 and at most 1000"),  # overflowed inside Adam
    (dict(optimizer="adam", lr=float("nan")), 1, "--lr must be above 0"),
    (dict(size=64, style_scale=0.25, style_layers=("relu1_1", "relu5_1", "pool5")), 1,
     r"a style image at 16x16 px is too small for pool5 \("),  # the content (64x48) passes; relu5_1 is 1x1
    # nothing to optimise: the run wrote its start image back
    (dict(content_weight=0.0, style_weight=0.0), 1, "--content-weight and --style-weight are both 0: there is nothing to optimise"),
    (dict(content_weight=0.0, style_weight=0.0, tv_weight=0.0), 1, "both 0"),
    (dict(style_weight=0.0, tv_weight=0.0), 1, "with --style-weight 0 and --tv-weight 0, --init content starts at the optimum"),
    (dict(layer_weights=(0.0,) * 5), 1, "--layer-weights are all 0"),
    (dict(size=32, content_layer="fc8"), 1, "the content at 32x24 px is too small for fc8"),
    (dict(size=64, style_layers=("relu1_1", "fc7")), 1, "style layer fc7 has no spatial maps"),
])
def test_bad_settings(vgg: torch.nn.Module, options: dict, n_styles: int, message: str) -> None:
    with pytest.raises(VisError, match=message):
        style_transfer(_content(), [_style()] * n_styles, StyleConfig(**options), vgg)


def test_the_least_style_scale_a_message_names_is_enough() -> None:
    from vis.engine._style import check_config

    check_config(StyleConfig(size=153, style_scale=0.11), 1)


def test_layers_and_weights_are_checked_without_the_model(tmp_path) -> None:
    from vis.engine._style import check_layers
    from vis.models._registry import check_weights_fit

    check_layers(StyleConfig())
    with pytest.raises(UnknownNameError, match="relu4_2"):
        check_layers(StyleConfig(content_layer="relu4_22"))
    with pytest.raises(VisError, match=r"style layer fc6 has no spatial maps \(its output is \(4096,\)\)"):
        check_layers(StyleConfig(style_layers=("relu1_1", "fc6")))
    check_weights_fit("vgg19", "random")
    check_weights_fit("vgg19", "imagenet")
    lenet = get_model("lenet5", weights="random").state_dict()
    torch.save({"model": "lenet5", "state_dict": lenet}, tmp_path / "ckpt.pt")
    torch.save(lenet, tmp_path / "plain.pt")
    (tmp_path / "notes.pt").write_text("not torch")
    for weights, message in [("imagenett", "unknown weights 'imagenett'"), (str(tmp_path / "none.pt"), "not found"),
                             (str(tmp_path), "got a folder"), (str(tmp_path / "ckpt.pt"), "checkpoint of lenet5, not of vgg19"),
                             (str(tmp_path / "plain.pt"), "do not fit VGG"), (str(tmp_path / "notes.pt"), "not a PyTorch weights file")]:
        with pytest.raises(VisError, match=message):
            check_weights_fit("vgg19", weights)


def test_weights_file_of_vgg19_passes_the_check(tmp_path) -> None:
    from vis.models import model_spec
    from vis.models._registry import check_weights_fit

    with torch.device("meta"):  # the shapes of VGG-19 without its 550 MB: the file is written with empty storage
        shapes = {k: v.shape for k, v in model_spec("vgg19").build().state_dict().items()}
    torch.save({k: torch.zeros(()).expand(s) for k, s in shapes.items()},
               tmp_path / "vgg.pt")
    check_weights_fit("vgg19", str(tmp_path / "vgg.pt"))
    torch.save({"x": torch.zeros(3)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    check_weights_fit("vgg19", str(tmp_path / "legacy.pt"))  # torch's old format cannot be mapped: left to the full load


def test_unknown_layer(vgg: torch.nn.Module) -> None:
    with pytest.raises(UnknownNameError, match="relu4_2"):
        _run(vgg, content_layer="relu4_22")


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_ctrl_c_hands_back_the_image_so_far(vgg: torch.nn.Module, optimizer: str) -> None:
    from vis.engine._style import StyleInterrupted

    def stop_at_the_fourth(p: StyleProgress) -> None:
        if p.scale == 2 and p.iteration == 2:
            raise KeyboardInterrupt

    config = StyleConfig(scales=(32, 48), iterations=4, optimizer=optimizer, lr=0.05, weights="random",
                         preserve_colors=True)
    with pytest.raises(StyleInterrupted) as stop:
        style_transfer(_content(), [_style()], config, model=vgg, progress=stop_at_the_fourth)
    assert stop.value.where == "scale 2/2, iteration 2/4"
    assert stop.value.image.shape == (36, 48, 3) and np.isfinite(stop.value.image).all()
    want = rgb_to_ycrcb(resize_long_side(_content(), 48))[..., 1:]  # the colours are preserved as at the end
    assert np.abs(rgb_to_ycrcb(stop.value.image)[..., 1:] - want).mean() < 0.02


def test_ctrl_c_between_scales_keeps_the_finished_one(vgg: torch.nn.Module, monkeypatch) -> None:
    """A Ctrl-C while the next scale's targets are computed hands back the last finished scale, not nothing."""
    import vis.engine._style as style_module

    calls = {"n": 0}
    features = style_module._features

    def stop_at_the_second_scale(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # scale 1: content, style; scale 2: content
            raise KeyboardInterrupt
        return features(*args, **kwargs)

    monkeypatch.setattr(style_module, "_features", stop_at_the_second_scale)
    config = StyleConfig(scales=(32, 48), iterations=2, weights="random")
    with pytest.raises(style_module.StyleInterrupted) as stop:
        style_transfer(_content(), [_style()], config, model=vgg)
    assert stop.value.where == "the start of scale 2/2 (scale 1 finished)"
    assert stop.value.image.shape == (24, 32, 3) and np.isfinite(stop.value.image).all()
    assert np.abs(stop.value.image - resize_long_side(_content(), 32)).mean() > 1e-4  # painted, not the content
