"""Objective specs at their edges: signs, dangling operators, empty fields and neuron positions outside the map."""

from __future__ import annotations

import re

import pytest
import torch

from vis.exporters import ChannelObjective, ClassObjective, LayerObjective, NeuronObjective, ObjectiveError
from vis.exporters._objective_spec import check_neuron_positions, parse_objective, parse_objective_for_graph
from vis.exporters._objectives import GuideObjective, L2Penalty, Sum, TVPenalty
from vis.models import get_model

MODEL = "efficientnet_lite0"  # parsing reads only its layer table (meta device): no weights, no compute


def structure(objective) -> tuple:
    """What an objective is, for comparing two that do not define ``==``: its type and weighted terms' fields."""
    return type(objective).__name__, [(w, type(o).__name__, vars(o)) for w, o in objective.terms()]


def refused(spec: str, model: str = MODEL) -> str:
    with pytest.raises(ObjectiveError) as info:
        parse_objective(spec, model)
    return str(info.value)


# What these specs parsed to before the parser was tightened: they must keep parsing to exactly that.
@pytest.mark.parametrize("spec,model,expected", [
    ("block10", MODEL, LayerObjective("block10")),
    ("block10:3", MODEL, ChannelObjective("block10", 3)),
    ("block10:3@5,5", MODEL, NeuronObjective("block10", 3, 5, 5)),
    ("block10:3@100,100", MODEL, NeuronObjective("block10", 3, 100, 100)),  # fits a large enough input
    ("block10:3@", MODEL, NeuronObjective("block10", 3)),
    ("neuron:block10:3", MODEL, NeuronObjective("block10", 3)),
    ("fc:999", MODEL, ChannelObjective("fc", 999, rank=2)),
    ("class:281", MODEL, ClassObjective("fc", 281)),
    ("prob:281", MODEL, ClassObjective("fc", 281, prob=True)),
    ("class:0", MODEL, ClassObjective("fc", 0)),
    ("guide:block10", MODEL, GuideObjective("block10")),
    ("tv", MODEL, TVPenalty()),
    ("tv:0.5", MODEL, TVPenalty(0.5)),
    ("tv:0", MODEL, TVPenalty(0.0)),
    ("l2", MODEL, L2Penalty()),
    ("l2:1e-3", MODEL, L2Penalty(1e-3)),
    ("tv:1E-2", MODEL, TVPenalty(0.01)),
    (" block10 ", MODEL, LayerObjective("block10")),
    ("-block10", MODEL, Sum([(-1.0, LayerObjective("block10"))])),
    ("- block10", MODEL, Sum([(-1.0, LayerObjective("block10"))])),
    ("-0.5*block10 + tv", MODEL, Sum([(-0.5, LayerObjective("block10")), (1.0, TVPenalty())])),
    ("block10 + 0.5*head - block3", MODEL,
     Sum([(1.0, LayerObjective("block10")), (0.5, LayerObjective("head")), (-1.0, LayerObjective("block3"))])),
    ("block10:3+head+tv:0.5", MODEL,
     Sum([(1.0, ChannelObjective("block10", 3)), (1.0, LayerObjective("head")), (1.0, TVPenalty(0.5))])),
    ("1e-3*l2 + block10", MODEL, Sum([(1e-3, L2Penalty()), (1.0, LayerObjective("block10"))])),
    ("2.5e-1*block10", MODEL, Sum([(0.25, LayerObjective("block10"))])),
    ("1e+2*block10", MODEL, Sum([(100.0, LayerObjective("block10"))])),
    (".5*block10", MODEL, Sum([(0.5, LayerObjective("block10"))])),
    ("3.*block10", MODEL, Sum([(3.0, LayerObjective("block10"))])),
    # a bare '@' (the centre) followed by an operator: the sign joins terms, it is not a position's
    ("block10:3@ - head", MODEL, Sum([(1.0, NeuronObjective("block10", 3)), (-1.0, LayerObjective("head"))])),
    ("block10:3@-2*head", MODEL, Sum([(1.0, NeuronObjective("block10", 3)), (-2.0, LayerObjective("head"))])),
    ("block10:3@5,5-head", MODEL, Sum([(1.0, NeuronObjective("block10", 3, 5, 5)), (-1.0, LayerObjective("head"))])),
    ("tv:1e-2-block10", MODEL, Sum([(1.0, TVPenalty(0.01)), (-1.0, LayerObjective("block10"))])),
    ("mixed4c", "googlenet", LayerObjective("inception4c")),
    ("inception4a:12@ + inception4a:3@1,2", "googlenet",
     Sum([(1.0, NeuronObjective("inception4a", 12)), (1.0, NeuronObjective("inception4a", 3, 1, 2))])),
    ("class:dragonfly", "googlenet", ClassObjective("fc", 319)),
    ("inception4a:12@7,7", "googlenet", NeuronObjective("inception4a", 12, 7, 7)),
    ("inception3a:1 + 0.5*inception4d + 1e-3*l2:2", "googlenet",
     Sum([(1.0, ChannelObjective("inception3a", 1)), (0.5, LayerObjective("inception4d")), (1e-3, L2Penalty(2.0))])),
    ("class:319 + 0.1*prob:dragonfly + l2:0.001", "googlenet",
     Sum([(1.0, ClassObjective("fc", 319)), (0.1, ClassObjective("fc", 319, prob=True)), (1.0, L2Penalty(0.001))])),
])
def test_legitimate_specs_parse_as_before(spec, model, expected) -> None:
    assert structure(parse_objective(spec, model)) == structure(expected)


def test_minus_after_a_layer_ending_in_e_is_an_operator() -> None:
    """'4e-' is not the exponent of a number: the spec subtracts inception4d (it used to be one unknown layer)."""
    want = Sum([(1.0, LayerObjective("inception4e")), (-1.0, LayerObjective("inception4d"))])
    assert structure(parse_objective("inception4e-inception4d", "googlenet")) == structure(want)


@pytest.mark.parametrize("spec,message", [
    ("block10:-1", "channel -1 in 'block10:-1' must be >= 0: block10 has 112 channels (0..111)"),
    ("fc:-1", "channel -1 in 'fc:-1' must be >= 0: fc has 1000 channels (0..999)"),
    ("class:-1", "class -1 in 'class:-1' must be >= 0: efficientnet_lite0 has 1000 classes (0..999)"),
    ("prob:-5", "class -5 in 'prob:-5' must be >= 0"),
    ("block10:3@-1,2", "'block10:3@-1,2': the position (-1, 2) must be >= 0 in y and x"),
    ("block10:3@1,-2", "'block10:3@1,-2': the position (1, -2) must be >= 0 in y and x"),
    ("tv:-3", "'tv:-3': the tv weight must be >= 0 (tv:3 already subtracts the penalty)"),
    ("l2:-1e-3", "'l2:-1e-3': the l2 weight must be >= 0 (l2:0.001 already subtracts the penalty)"),
    ("head + tv:-3", "'tv:-3': the tv weight must be >= 0"),
    ("head - tv:0.5", "-1 x 'tv:0.5' in objective 'head - tv:0.5' would reward noise: tv already subtracts its "
                      "penalty, so write '+ tv:0.5'"),
    ("head - 1e-3*l2", "would reward noise: l2 already subtracts its penalty, so write '+ 1e-3*l2'"),
    ("-tv", "would reward noise: tv already subtracts its penalty, so write 'tv'"),
    ("head + 0*block10", "the term '0*block10' of objective 'head + 0*block10' is weighted 0: it does nothing"),
    ("block10 - block10", "the terms of objective 'block10 - block10' cancel out: it is 0 for every image"),
    ("0.5*block10:3 + head - head - 0.5*block10:3", "cancel out"),
])
def test_negative_numbers_are_refused_as_numbers(spec, message) -> None:
    """A minus right after ':', '@' or ',' is the number's sign, not a subtraction of a layer named '1'."""
    assert message in refused(spec)


@pytest.mark.parametrize("spec,message", [
    ("tv:nan", "'tv:nan': the weight 'nan' is not a finite number"),
    ("l2:inf", "'l2:inf': the weight 'inf' is not a finite number"),
    ("1e999*block10", "the weight of '1e999*block10' in objective '1e999*block10' is not a finite number"),
    ("block10:1_0", "channel '1_0' in 'block10:1_0' is not an integer"),
    # finite in float64 but beyond float32 in the graph (1e40 made a black image), or drowned below its 7 digits
    ("1e40*block10:1", "the weight 1e+40 of '1e40*block10:1' in objective '1e40*block10:1' is out of range: a weight's "
                       "size must lie between 1e-6 and 1e6"),
    ("head - 2e6*block10", "the weight 2e+06 of '2e6*block10'"),
    ("head + 1e-9*block10", "the weight 1e-09 of '1e-9*block10'"),
    ("head + tv:1e9", "'tv:1e9': the tv weight is above 1e6"),
])
def test_numbers_must_be_plain_and_finite(spec, message) -> None:
    assert message in refused(spec)


@pytest.mark.parametrize("spec,message", [
    ("block10 +", "objective 'block10 +' ends with '+': a term must follow it"),
    ("block10 - ", "objective 'block10 - ' ends with '-': a term must follow it"),
    ("-", "objective '-' ends with '-': a term must follow it"),
    ("+ block10", "objective '+ block10' starts with '+': '+' joins two terms, so drop it"),
    ("+", "objective '+' starts with '+'"),
    ("block10 + + head", "empty term between '+' and '+' in objective 'block10 + + head'"),
    ("block10 - -head", "empty term between '-' and '-' in objective 'block10 - -head'"),
    ("- -block10", "empty term between '-' and '-' in objective '- -block10'"),
    ("block10 + 0.5*", "cannot read the term '0.5*' of objective 'block10 + 0.5*': nothing after '*'"),
    ("*block10", "cannot read the term '*block10' of objective '*block10': nothing before '*'"),
])
def test_dangling_operators_are_refused(spec, message) -> None:
    assert message in refused(spec)


@pytest.mark.parametrize("spec,message", [
    ("block10:", "'block10:' has an empty field after ':': give a channel, e.g. block10:3, or write block10 alone"),
    ("head + block10:", "'block10:' has an empty field after ':'"),
    ("tv:", "'tv:' has an empty field after ':': give a weight, e.g. tv:0.5, or write tv alone for the default"),
    ("l2:", "'l2:' has an empty field after ':': give a weight"),
    ("class:", "'class:' has an empty field after ':': give a class index or name, e.g. class:319"),
    ("guide:", "'guide:' has an empty field after ':': give a layer"),
    ("neuron:block10:", "'neuron:block10:' has an empty field after ':': give LAYER:CHANNEL"),
    ("block10::3", "'block10::3' has an empty field after ':'"),
    (":3", "':3' has nothing before ':'"),
    ("block10:@1,2", "'block10:@1,2': the channel is missing"),
    ("tv:-guide:block10", "'tv:' has an empty field after ':'"),  # no number after the sign: an operator
    ("block10: + head", "'block10:' has an empty field after ':'"),
])
def test_empty_fields_are_refused(spec, message) -> None:
    assert message in refused(spec)


@pytest.mark.parametrize("spec", ["", " ", "\t \n"])
def test_blank_spec_is_refused(spec) -> None:
    assert refused(spec).startswith("the objective is empty: give a layer")


def test_graph_with_static_maps_refuses_a_position_outside_them() -> None:
    shapes = {"/layer4/Relu_output_0": (512, 7, 7)}
    assert str(parse_objective_for_graph("/layer4/Relu_output_0:12@6,6", shapes)) == "/layer4/Relu_output_0:12@6,6"
    with pytest.raises(ObjectiveError, match=re.escape(
            "neuron position (7, 0) of '/layer4/Relu_output_0:12@7,0' is outside /layer4/Relu_output_0's 7x7 map: "
            "y must be in 0..6 and x in 0..6")):
        parse_objective_for_graph("/layer4/Relu_output_0:12@7,0", shapes)


def test_graph_with_symbolic_maps_leaves_the_position_to_run_time() -> None:
    """A 0 is a symbolic height/width: the map's size is unknown until an image arrives."""
    objective = parse_objective_for_graph("features:1@500,5", {"features": (8, 0, 0)})
    assert (objective.y, objective.x) == (500, 5)


@pytest.fixture(scope="module")
def lenet() -> object:
    torch.manual_seed(0)
    return get_model("lenet5", weights="random")


def _activations(model, objective, size: int) -> tuple[dict, torch.Tensor]:
    image = torch.rand(2, 1, size, size)
    layers = list(objective.layers())
    with torch.no_grad():
        return dict(zip(layers, model.forward_layers(image, layers))), image


def test_torch_value_refuses_a_position_outside_the_map(lenet) -> None:
    objective = parse_objective("tanh1 + tanh2:3@12,0", "lenet5")  # tanh2 is 10x10 at 28x28
    acts, image = _activations(lenet, objective, 28)
    with pytest.raises(ObjectiveError, match=re.escape(
            "neuron position (12, 0) of 'tanh2:3@12,0' is outside tanh2's 10x10 map at a 28x28 input: "
            "y must be in 0..9 and x in 0..9")):
        objective.torch_value(acts, image)


def test_torch_value_reads_the_last_unit_of_the_map(lenet) -> None:
    objective = parse_objective("tanh2:3@9,9", "lenet5")
    acts, image = _activations(lenet, objective, 28)
    assert float(objective.torch_value(acts, image)) == pytest.approx(float(acts["tanh2"][:, 3, 9, 9].sum()))


def test_check_neuron_positions_names_the_map_and_input_size() -> None:
    objective = parse_objective("head + block10:3@5,5", MODEL)
    check_neuron_positions(objective, MODEL, [(224, 224), (96, 96)])  # block10 is 14x14, then 6x6
    with pytest.raises(ObjectiveError, match=re.escape(
            "neuron position (5, 5) of 'block10:3@5,5' is outside block10's 4x4 map at a 64x64 input: "
            "y must be in 0..3 and x in 0..3")):
        check_neuron_positions(objective, MODEL, [(224, 224), (160, 112), (64, 64)])


def test_check_neuron_positions_skips_objectives_without_a_fixed_position() -> None:
    """No fixed position, nothing to miss: not even a size the model could not take is looked at."""
    objective = parse_objective("block10:3@ + head:1", MODEL)
    check_neuron_positions(objective, MODEL, [(8, 8)])


@pytest.mark.parametrize("spec,index", [
    ("class:Dragonfly", 319),          # a case-only difference, one match
    ("class:GREAT_WHITE_SHARK", 2),
    ("class:Cardigan", 264),           # exact names win: ImageNet has both 'Cardigan' (the corgi) and 'cardigan'
    ("class:cardigan", 474),
])
def test_class_names_match_ignoring_case_when_one_class_does(spec, index) -> None:
    assert structure(parse_objective(spec, "googlenet")) == structure(ClassObjective("fc", index))


def test_a_class_name_matching_two_classes_but_for_case_is_refused() -> None:
    message = refused("class:CARDIGAN", "googlenet")
    assert "matches 'Cardigan' (264), 'cardigan' (474) except for case" in message


def test_a_tensor_whose_channels_inference_leaves_open_is_named_so() -> None:
    """It read "has 0 channels (0..-1)"; the whole tensor still works as an objective."""
    with pytest.raises(ObjectiveError, match=re.escape("the channels of pad are not known from the file (ONNX shape "
                                                       "inference leaves them open), so channel 1 cannot be checked")):
        parse_objective_for_graph("pad:1", {"pad": (0, 0, 0)})
    assert str(parse_objective_for_graph("pad", {"pad": (0, 0, 0)})) == "pad"


def test_an_objective_is_shown_with_the_names_of_its_classes() -> None:
    from vis.models import model_spec

    names = model_spec("googlenet").categories
    both = parse_objective("prob:dragonfly - 0.5*inception4c:3", "googlenet")
    assert both.named(names) == "1*prob:319 'dragonfly' + -0.5*inception4c:3"
    assert str(both) == "1*prob:319 + -0.5*inception4c:3"  # what a record or a file name keeps: no names
    assert parse_objective("class:7", "lenet5").named(model_spec("lenet5").categories) == "class:7"  # a digit's is 7
