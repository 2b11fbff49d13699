from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch

from vis.errors import UnknownNameError, VisError, WeightsUnavailableError
from vis.models import get_model, layer_table, list_models, model_spec
from vis.models._weights import WeightsFile

SMALL = {"lenet5": (28, 28), "vgg19": (64, 80), "googlenet": (64, 80), "efficientnet_lite0": (64, 80)}


def test_list_models_has_the_four() -> None:
    assert list_models() == ["lenet5", "vgg19", "googlenet", "efficientnet_lite0"]


def test_unknown_model_names_closest() -> None:
    with pytest.raises(UnknownNameError, match="googlenet"):
        model_spec("googlenett")


def test_names_as_close_as_the_third_are_suggested_too() -> None:
    from vis.errors import closest

    vgg = [row.name for row in layer_table("vgg19")]
    assert closest("conv4_l", vgg) == ["conv4_1", "conv4_2", "conv4_3", "conv4_4"]  # was conv4_4, conv4_3, conv4_2
    assert closest("googlenett", list_models()) == ["googlenet", "lenet5"]  # the best first


def test_a_name_wrong_only_in_case_is_named_first() -> None:
    with pytest.raises(UnknownNameError, match=r"'Googlenet'. Did you mean: googlenet\? \(names are case-sensitive\)"):
        model_spec("Googlenet")
    # by letters alone 'gradcam' was nearer to 'CAM' than 'cam'
    assert "Did you mean: cam? (names are case-sensitive)" in str(UnknownNameError("CAM method", "CAM", ["gradcam", "cam"]))


def test_googlenet_inception4c_shape() -> None:
    row = {r.name: r for r in layer_table("googlenet", (224, 224))}["inception4c"]
    assert row.shape == (512, 14, 14) and row.kind == "inception"


def test_vgg_layer_names() -> None:
    names = [r.name for r in layer_table("vgg19")]
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert {"conv5_4", "relu5_4", "pool5", "fc6", "fc7", "fc8"} <= set(names)
    assert {r.name for r in layer_table("vgg19") if "pre_relu" in r.tags} >= {"conv4_1", "conv5_1"}


@pytest.mark.parametrize("name", list(SMALL))
def test_layer_table_matches_real_forward(name: str) -> None:
    model = get_model(name, weights="random")
    table = layer_table(name, SMALL[name])
    x = torch.rand(1, model_spec(name).preprocessing.channels, *SMALL[name])
    dynamic_rows = [r for r in table if r.shape]
    outs = model.forward_layers(x, [r.name for r in dynamic_rows])
    assert [tuple(o.shape[1:]) for o in outs] == [r.shape for r in dynamic_rows]


def test_lenet_is_the_thesis_variant() -> None:
    model = get_model("lenet5", weights="random")
    table = {r.name: r.shape for r in layer_table("lenet5")}
    assert table["pad"] == (1, 32, 32) and table["conv1"] == (6, 28, 28) and table["pool1"] == (6, 14, 14)
    assert table["conv2"] == (16, 10, 10) and table["pool2"] == (16, 5, 5)
    assert [table[n] for n in ("fc1", "fc2", "fc3", "fc4")] == [(400,), (120,), (84,), (10,)]
    assert model.fc1.in_features == 400


def test_random_weights_are_seeded() -> None:
    a = get_model("googlenet", weights="random", seed=3).state_dict()
    b = get_model("googlenet", weights="random", seed=3).state_dict()
    c = get_model("googlenet", weights="random", seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1.conv.weight"], c["conv1.conv.weight"])


def test_random_weights_are_well_scaled() -> None:
    model = get_model("googlenet", weights="random")
    (act,) = model.forward_layers(torch.rand(2, 3, 96, 96), ["inception4c"])
    assert 0.05 < act.std().item() < 20


# torchvision's published key names (facts of its files), written out independently of our modules.
TORCHVISION_KEYS = {
    "vgg19": ["features.0.weight", "features.2.bias", "features.34.weight", "classifier.0.weight", "classifier.6.bias"],
    "googlenet": ["conv1.conv.weight", "conv1.bn.running_var", "inception3a.branch2.1.conv.weight",
                  "inception3a.branch3.1.conv.weight", "inception5b.branch4.1.bn.bias", "fc.weight"],
}


@pytest.mark.parametrize("name", ["vgg19", "googlenet"])
def test_torchvision_state_dict_file_loads(name: str, tmp_path) -> None:
    state = get_model(name, weights="random", seed=1).state_dict()
    assert set(TORCHVISION_KEYS[name]) <= set(state)
    if name == "googlenet":  # torchvision's file also holds the aux heads
        state["aux1.fc2.weight"] = torch.zeros(1000, 1024)
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    loaded = get_model(name, weights=str(path))
    key = TORCHVISION_KEYS[name][0]
    assert torch.equal(loaded.state_dict()[key], state[key])


def test_vgg19_conv_indices_follow_torchvision() -> None:
    state = get_model("vgg19", weights="random").state_dict()
    conv_indices = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.")})
    assert conv_indices == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def test_wrong_state_dict_names_the_file(tmp_path) -> None:
    path = tmp_path / "lenet.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(VisError, match="lenet.pt"):
        get_model("lenet5", weights=str(path))


def test_weights_that_are_not_finite_are_refused_naming_a_tensor(tmp_path) -> None:
    """A diverged training run's NaN would give NaN everywhere (a dream would blame the image at its end)."""
    state = get_model("lenet5", weights="random").state_dict()
    state["conv2.bias"][3] = float("inf")
    path = tmp_path / "diverged.pt"
    torch.save({"model": "lenet5", "state_dict": state}, path)
    with pytest.raises(WeightsUnavailableError, match=r"diverged.pt holds weights that are not finite: conv2.bias has "
                                                      r"1 of 16 values NaN or infinite"):
        get_model("lenet5", weights=str(path))


def test_unknown_weights_name() -> None:
    with pytest.raises(UnknownNameError, match="random"):
        get_model("googlenet", weights="imagenett")


def test_offline_imagenet_weights_message(monkeypatch, tmp_path) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsUnavailableError) as info:
        get_model("googlenet", weights="imagenet")
    message = str(info.value)
    assert "https://download.pytorch.org/models/googlenet-1378be20.pth" in message
    assert str(tmp_path / "checkpoints" / "googlenet-1378be20.pth") in message
    assert "--weights random" in message
    assert not (tmp_path / "checkpoints" / "googlenet-1378be20.pth").exists()


def _published(tmp_path, name_hash: str | None = None) -> tuple[WeightsFile, dict]:
    """LeNet-5's random weights "published" at a file:// URL named as torchvision names its files."""
    import hashlib

    state = get_model("lenet5", weights="random").state_dict()
    source = tmp_path / "source.pth"
    torch.save(state, source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:8]
    published = source.rename(tmp_path / f"lenet5-{name_hash or digest}.pth")
    return WeightsFile(url=published.as_uri()), state


def test_published_weights_are_downloaded_once_and_hash_checked(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    weights, state = _published(tmp_path)
    loaded = weights.load()
    assert sorted(loaded) == sorted(state) and all(torch.equal(loaded[k], state[k]) for k in state)
    assert weights.available_locally() and capsys.readouterr().err.startswith("downloading file://")
    Path(weights.url.removeprefix("file://")).unlink()  # the cached copy is read from now on
    assert torch.equal(weights.load()["conv1.weight"], state["conv1.weight"])
    assert capsys.readouterr().err == ""


def test_published_weights_with_a_wrong_hash_are_refused(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    weights, _ = _published(tmp_path, name_hash="0badc0de")
    with pytest.raises(WeightsUnavailableError, match="cannot download weights"):
        weights.load()
    assert not weights.available_locally() and list((tmp_path / "hub" / "checkpoints").iterdir()) == []


def test_a_broken_cached_download_says_how_to_get_it_again(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    cached = tmp_path / "hub" / "checkpoints" / "googlenet-1378be20.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a download")
    with pytest.raises(WeightsUnavailableError) as info:
        get_model("googlenet", weights="imagenet")
    assert f"{cached} is not a PyTorch weights file" in str(info.value)
    assert "delete it and run again to download it anew (https://download.pytorch.org/" in str(info.value)


def test_efficientnet_real_weights_classify_a_photo(sample_photo) -> None:
    from vis.engine import load_image, predict

    model = get_model("efficientnet_lite0", weights="imagenet")
    (result,) = predict("efficientnet_lite0", model, [load_image(sample_photo)], top=3)
    assert result.classes[0][1] in {"palace", "bell cote", "pagoda", "church"}
    assert result.classes[0][2] > 0.2


def test_categories() -> None:
    assert model_spec("googlenet").categories[319] == "dragonfly"
    assert len(model_spec("vgg19").categories) == 1000
    assert model_spec("lenet5").categories == [str(d) for d in range(10)]


def test_weights_that_do_not_fit_are_explained_in_a_line(tmp_path) -> None:
    lenet = get_model("lenet5", "random").state_dict()
    torch.save(lenet, tmp_path / "lenet.pt")
    with pytest.raises(VisError, match=r"tensors are not in the file .*; the file has 22 tensors the model lacks") as e:
        get_model("vgg19", str(tmp_path / "lenet.pt"))
    assert len(str(e.value)) < 400  # torch's own message lists every key
    reshaped = dict(lenet, **{"conv1.weight": torch.zeros(3)})
    torch.save(reshaped, tmp_path / "reshaped.pt")
    with pytest.raises(VisError, match=r"conv1.weight is \(6, 1, 5, 5\) in the model and \(3,\) in the file"):
        get_model("lenet5", str(tmp_path / "reshaped.pt"))


def test_a_vis_checkpoint_names_its_model_and_a_foreign_file_says_what_it_is(tmp_path) -> None:
    torch.save({"state_dict": get_model("lenet5", "random").state_dict(), "model": "lenet5"}, tmp_path / "ck.pt")
    with pytest.raises(WeightsUnavailableError, match="a vis checkpoint of lenet5, not of efficientnet_lite0"):
        get_model("efficientnet_lite0", str(tmp_path / "ck.pt"))
    assert get_model("lenet5", str(tmp_path / "ck.pt")) is not None
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    with pytest.raises(WeightsUnavailableError, match=r"is not a PyTorch weights file .*\(it is neither a zip "
                                                        r"archive nor a pickle\)$"):
        get_model("lenet5", str(tmp_path / "photo.jpg"))  # torch's paragraph on weights_only was cut mid-word
    (tmp_path / "cut.pt").write_bytes((tmp_path / "ck.pt").read_bytes()[:100])
    with pytest.raises(WeightsUnavailableError, match=r"\(its zip archive is damaged or cut short\)$"):
        get_model("lenet5", str(tmp_path / "cut.pt"))
    torch.save({"state_dict": {"w": ZeroDivisionError()}}, tmp_path / "objects.pt")
    with pytest.raises(WeightsUnavailableError, match="it holds Python objects other than tensors"):
        get_model("lenet5", str(tmp_path / "objects.pt"))


def test_a_pickle_of_another_protocol_is_refused_without_torch_s_warning(tmp_path, recwarn) -> None:
    """torch.load warned "Detected pickle protocol 4 ..." before vis's own line about the file."""
    import pickle

    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=4))
    with pytest.raises(WeightsUnavailableError, match="list.pkl"):
        get_model("lenet5", weights=str(path))
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]


def test_a_folder_given_as_weights_is_named_as_one(tmp_path) -> None:
    from vis.errors import WeightsUnavailableError

    with pytest.raises(WeightsUnavailableError, match="expected a weights file, got a folder"):
        get_model("lenet5", weights=str(tmp_path))


@pytest.mark.parametrize("name", list_models())
def test_the_registry_states_the_normalisation_each_net_applies(name) -> None:
    # The registry's numbers go into exported graphs' metadata; the net's own buffers are what runs: they must agree
    spec = model_spec(name)
    net = spec.build()
    assert torch.allclose(net.input_mean.flatten(), torch.tensor(spec.preprocessing.mean, dtype=torch.float32))
    assert torch.allclose(net.input_std.flatten(), torch.tensor(spec.preprocessing.std, dtype=torch.float32))


def test_layer_table_takes_one_side_or_a_list() -> None:
    square = layer_table("googlenet", (224, 224))
    assert layer_table("googlenet", 224) == square == layer_table("googlenet", [224, 224])
    for bad in (2.5, (224,), "224", (224.0, 224)):
        with pytest.raises(VisError, match="size is"):
            layer_table("googlenet", bad)


def test_a_model_passed_under_another_name_is_refused() -> None:
    """The name picks layer tables, class names and preprocessing: another model's would silently not fit."""
    from vis.engine import predict
    from vis.exporters import export_onnx

    net = get_model("lenet5", "random")
    assert (net.vis_name, net.vis_weights) == ("lenet5", "random")
    with pytest.raises(VisError, match="built as lenet5, not googlenet: pass 'lenet5'"):
        export_onnx("googlenet", net)
    with pytest.raises(VisError, match="built as lenet5"):
        predict("vgg19", net, [torch.rand(32, 32, 3).numpy()])
    meta = {p.key: p.value for p in export_onnx("lenet5", net).metadata_props}
    assert meta["vis.weights"] == "random"  # the label follows the model when none is given


@pytest.mark.parametrize("size", [(224, 224), (97, 130), (64, 33)])
def test_efficientnet_pads_its_stride_2_convolutions_as_tensorflow_same(size) -> None:
    """The Lite weights come from TF-Lite checkpoints: "SAME" puts the odd row of padding after (an even side of a
    3x3 conv gets (0, 1), not (1, 1)). The stem and the four stride-2 depthwise convs, against TF's rule written
    out, at even and odd sides; and the ONNX export agrees with torch at that size."""
    import numpy as np
    import onnxruntime as ort
    import torch.nn.functional as F

    from vis.exporters import export_onnx

    net = get_model("efficientnet_lite0", weights="imagenet").eval()
    strided = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == 5
    for conv in strided:
        k = conv.kernel_size[0]
        x = torch.randn(1, conv.in_channels, *size)
        pads = []
        for side in reversed(size):  # F.pad's order: width, then height
            total = max((-(-side // 2) - 1) * 2 + k - side, 0)
            pads += [total // 2, total - total // 2]
        want = F.conv2d(F.pad(x, pads), conv.weight, None, 2, 0, 1, conv.groups)
        torch.testing.assert_close(conv(x), want)
    image = torch.rand(1, 3, *size)
    proto = export_onnx("efficientnet_lite0", net)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run(["fc"], {"image": image.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(onnx_logits, net(image).numpy(), rtol=1e-4, atol=1e-4)
