"""The network of a config's layer table as a PyTorch module (an independent
implementation: PyTorch's own Conv2d, LocalResponseNorm, MaxPool2d, AdaptiveAvgPool2d,
Linear and Dropout), shared by the golden fixtures (tests/fixtures/make_golden.py) and
the PyTorch peers of the benchmark (bench/peers/torch_*.py).

The config is the project's JSON (`deno run model/cli_config.ts --json tiny`):

  - conv "split" is Conv2d(groups=2): a column sees only its own half (conv2, conv4,
    conv5 in the paper), the same math as our two columns; "cross" and "whole" are
    groups=1 (the exchange is torch's whole tensor);
  - LRN on a two-column network normalises each column's half apart (the two GPUs never
    exchange there), with the paper's alpha: PyTorch divides alpha by n, so it gets
    alpha * n;
  - relu, maxpool, avgpool (adaptive), flatten, fc and dropout are PyTorch's own.

`AlexNet.named()` lists the parameters under the table's names (`conv1.weight`,
`features.0.weight`, ...), in the table's order: the order of our checkpoints.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def parts_of(cfg):
    """2 when any conv/fc is spread over two columns, 1 when every layer is "whole"."""
    return 2 if any(l["kind"] in ("conv", "fc") and l["placement"] != "whole"
                    for l in cfg["layers"]) else 1


class AlexNet(nn.Module):
    """The layer table as modules; `forward` walks the table."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.parts = parts_of(cfg)
        self.mods = nn.ModuleList()
        self._named = []  # (our name, module) for conv and fc
        channels, side, flat = cfg["inChannels"], cfg["inputSize"], False
        for l in cfg["layers"]:
            kind, m = l["kind"], None
            if kind == "conv":
                groups = 2 if l["placement"] == "split" else 1
                m = nn.Conv2d(channels, l["out"], l["kernel"], l["stride"], l["padding"],
                              groups=groups)
                channels = l["out"]
                side = (side + 2 * l["padding"] - l["kernel"]) // l["stride"] + 1
                self._named.append((l["name"], m))
            elif kind == "fc":
                out = cfg["classes"] if l["out"] == "classes" else l["out"]
                m = nn.Linear(channels, out)
                channels = out
                self._named.append((l["name"], m))
            elif kind == "lrn":
                m = nn.LocalResponseNorm(l["size"], alpha=l["alpha"] * l["size"], beta=l["beta"],
                                         k=l["k"])
            elif kind == "maxpool":
                m = nn.MaxPool2d(l["size"], l["stride"])
                side = (side - l["size"]) // l["stride"] + 1
            elif kind == "avgpool":
                m = nn.AdaptiveAvgPool2d(l["output"])
                side = l["output"]
            elif kind == "dropout":
                m = nn.Dropout(l["p"])
            elif kind == "flatten":
                channels, side, flat = channels * side * side, 1, True
            elif kind != "relu":
                raise ValueError(f"unknown layer kind {kind!r}")
            self.mods.append(m if m is not None else nn.Identity())

    def named(self):
        """[(name, parameter)] under the table's names, in checkpoint order."""
        out = []
        for name, m in self._named:
            out += [(f"{name}.weight", m.weight), (f"{name}.bias", m.bias)]
        return out

    def layer(self, name):
        """The conv or fc module of a table name."""
        return dict(self._named)[name]

    def forward(self, x):
        for l, m in zip(self.cfg["layers"], self.mods):
            kind = l["kind"]
            if kind == "relu":
                x = F.relu(x)
            elif kind == "flatten":
                x = torch.flatten(x, 1)  # (C, H, W): column 0's channels, then column 1's
            elif kind == "lrn" and self.parts == 2:
                x = torch.cat([m(h) for h in x.chunk(2, dim=1)], 1)
            else:
                x = m(x)
        return x
