"""Weights taken from PyTorch give PyTorch's outputs: modules written with the spec's names,
their state_dict exported to .npz as docs/pytorch-weights.md says, run by `cnnc infer`.
Skipped where PyTorch is not installed (scripts/setup.sh installs the CPU build when it can)."""
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cnnc.cli import cli

torch = pytest.importorskip("torch")
nn = torch.nn
ROOT = Path(__file__).resolve().parents[2]


class LeNet5(nn.Module):
    """specs/lenet5.yaml in PyTorch, its modules named as the spec names its layers."""

    def __init__(self):
        super().__init__()
        self.c1s2 = nn.ModuleDict({"conv": nn.Conv2d(1, 6, 5)})
        self.c3s4 = nn.ModuleDict({"conv": nn.Conv2d(6, 16, 5)})
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, 10)

    def forward(self, x):
        x = nn.functional.avg_pool2d(torch.tanh(self.c1s2["conv"](x)), 2)
        x = nn.functional.avg_pool2d(torch.tanh(self.c3s4["conv"](x)), 2)
        x = torch.tanh(self.c5(x)).flatten(1)
        return self.output(torch.tanh(self.f6(x)))


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class TinyResNet(nn.Module):
    """tests/specs/tiny/resnet.yaml in PyTorch, torchvision's names."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.layer1 = Basic(4, 4, 1)
        self.layer2 = Basic(4, 6, 2)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        x = self.layer2(self.layer1(torch.relu(self.bn1(self.conv1(x)))))
        return torch.softmax(self.fc(x.mean((2, 3))), 1)


def export(model, path):
    """docs/pytorch-weights.md: every state_dict tensor but the step counters, as float32."""
    np.savez(path, **{k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()
                      if not k.endswith("num_batches_tracked")})


@pytest.mark.parametrize("model,spec,shape", [
    (LeNet5, "specs/lenet5.yaml", (4, 1, 32, 32)),
    (TinyResNet, "tests/specs/tiny/resnet.yaml", (4, 3, 8, 8)),
])
def test_pytorch_weights_give_pytorch_outputs(tmp_path, model, spec, shape):
    torch.manual_seed(0)
    net = model().eval()
    with torch.no_grad():                      # non-trivial batchnorm statistics
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    export(net, tmp_path / "w.npz")
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(cli, ["infer", str(ROOT / spec), "--weights", str(tmp_path / "w.npz"),
                                      "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    assert result.exit_code == 0, result.output
    expected = net(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-5)
