"""The model zoo: every spec compiles, and its counts equal the published figures."""
from pathlib import Path

import pytest

from cnnc.compiler import check
from conftest import ROOT

SPECS = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))

# Trainable parameters (PyTorch's count). Sources: torchvision's models for the ImageNet
# networks (no conv bias before batchnorm), Keras' examples, Kipf & Welling's GCN on Cora.
PUBLISHED = {
    "lenet5": 61_706,
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet152": 60_192_808,
    "densenet121": 7_978_856,
    "squeezenet1_0": 1_248_424,
    "mobilenet_v2": 3_504_872,
    "shufflenet_v2": 2_278_604,
    "googlenet": 6_624_904,
    "keras_mnist": 260_298,
    "gcn": 23_063,
    "se_resnet50": 28_088_024,            # Cadene's pretrainedmodels se_resnet50
}


def lstm_params(f, h, gates):             # PyTorch: W_ih, W_hh and two biases per gate
    return gates * h * (f + h) + 2 * gates * h


# Networks without one published figure: the count from their layout, worked out by hand.
BY_HAND = {
    "rnn": lstm_params(8, 128, 1) + (128 * 10 + 10),
    "lstm": lstm_params(8, 64, 4) + lstm_params(64, 64, 4) + (64 * 10 + 10),
    "gru": lstm_params(8, 64, 3) + lstm_params(64, 64, 3) + (64 * 10 + 10),
    "highway": (64 * 64 + 64) + 10 * 2 * (64 * 64 + 64) + (64 * 10 + 10),
    # He et al.'s CIFAR ResNet-20 is 269,722 with option A (zero-padded) shortcuts; cnnc's
    # `shortcut: auto` projects (option B): + (16·32 + 2·32) + (32·64 + 2·64) = 2,752.
    "resnet20": 269_722 + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64),
}


@pytest.fixture(scope="module")
def zoo():
    return {name: check(str(ROOT / "specs" / f"{name}.yaml")) for name in SPECS}


def test_the_zoo_is_complete():
    wanted = {"lenet5", "alexnet", "zfnet", "vgg16", "vgg19", "nin", "googlenet", "resnet18", "resnet34",
              "resnet50", "resnet152", "resnet20", "densenet121", "squeezenet1_0", "mobilenet_v1",
              "mobilenet_v2", "shufflenet_v2", "se_resnet50", "keras_mnist", "highway", "rnn", "lstm",
              "gru", "gcn", "stn"}
    assert wanted <= set(SPECS)


@pytest.mark.parametrize("name", SPECS)
def test_spec_compiles_without_warnings(zoo, name):
    a = zoo[name]
    assert a.ok and not a.diagnostics.warnings
    assert a.totals()["params"] == a.totals()["trainable_params"] + a.totals()["non_trainable_params"]


@pytest.mark.parametrize("name,count", sorted({**PUBLISHED, **BY_HAND}.items()))
def test_trainable_params_match(zoo, name, count):
    assert zoo[name].totals()["trainable_params"] == count


def test_resnet50_batchnorm_statistics_are_non_trainable(zoo):
    assert zoo["resnet50"].totals()["non_trainable_params"] == 53_120


def test_mobilenet_v1_matches_keras(zoo):
    totals = zoo["mobilenet_v1"].totals()
    assert (totals["params"], totals["non_trainable_params"]) == (4_253_864, 21_888)


def test_resnet_parameters_have_torchvision_names(zoo):
    names = {f"{layer}.{p.name}" for layer, ps in zoo["resnet50"].params.items() for p in ps}
    for name in ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer1.0.downsample.0.weight",
                 "layer1.0.downsample.1.bias", "layer4.2.bn3.running_var", "fc.weight", "fc.bias"):
        assert name in names


def adjacent_copies(node):
    """Pairs of identical neighbouring items (same kind, attributes and no distinguishing name):
    what `repeat:` is for."""
    if node.is_map:
        return [pair for v in node.value.values() for pair in adjacent_copies(v)]
    if not node.is_list:
        return []
    plain = [item.plain() if item.is_map else None for item in node.value]
    copies = [(a, b) for a, b in zip(plain, plain[1:]) if a is not None and a == b]
    return copies + [pair for item in node.value for pair in adjacent_copies(item)]


@pytest.mark.parametrize("name", SPECS)
def test_spec_uses_repeat_instead_of_copied_layers(name):
    from cnnc.spec.load import load
    assert adjacent_copies(load(str(ROOT / "specs" / f"{name}.yaml"))) == []
