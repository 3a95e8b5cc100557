#!/usr/bin/python3
"""PyTorch-on-CPU peer of the end-to-end benchmark: times training steps of the same
two-column AlexNet at the same batch, and prints one JSON object on stdout.

    /usr/bin/python3 bench/peers/torch_step.py --batch 8 --steps 3 --warmup 1 < config.json

The config is the project's JSON (`deno run model/cli_config.ts --json tiny`): the network
is built from it, so it is the same network as ours:
  - conv layers with groups=2 where a column sees only its own half (conv2, conv4,
    conv5 in the paper), groups=1 where it sees both (conv1, conv3): PyTorch's
    grouped Conv2d is the same math as our two columns;
  - LRN per column (the two halves normalised apart, as on two GPUs), with the
    paper's alpha: PyTorch divides alpha by n, so it gets alpha * n;
  - ReLU, overlapping 3x3/2 max-pooling, dropout 0.5 after fc6 and fc7;
  - softmax cross-entropy (mean over the batch);
  - the paper's update written out: v = 0.9 v - wd lr w - lr g; w = w + v.
The input is a resident float32 crop batch (no augmentation, no data loading): that
favours the peer slightly, since our step includes upload and GPU augmentation.
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LrnPerColumn(nn.Module):
    def __init__(self, lrn):
        super().__init__()
        # PyTorch: b = a / (k + alpha/n * sum a^2)^beta; the paper has no /n.
        self.lrn = nn.LocalResponseNorm(lrn["size"], alpha=lrn["alpha"] * lrn["size"],
                                        beta=lrn["beta"], k=lrn["k"])

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        return torch.cat([self.lrn(a), self.lrn(b)], dim=1)


def build(cfg):
    layers = []
    channels, side = cfg["inChannels"], cfg["inputSize"]
    for spec in cfg["conv"]:
        layers.append(nn.Conv2d(channels, spec["out"], spec["kernel"], spec["stride"],
                                spec["padding"], groups=spec["groups"]))
        layers.append(nn.ReLU(inplace=True))
        channels = spec["out"]
        side = (side + 2 * spec["padding"] - spec["kernel"]) // spec["stride"] + 1
        if spec["lrn"]:
            layers.append(LrnPerColumn(cfg["lrn"]))
        if spec["pool"]:
            layers.append(nn.MaxPool2d(cfg["pool"]["size"], cfg["pool"]["stride"]))
            side = (side - cfg["pool"]["size"]) // cfg["pool"]["stride"] + 1
    layers.append(nn.Flatten())
    features = channels * side * side
    for width in cfg["fc"]:
        layers += [nn.Linear(features, width), nn.ReLU(inplace=True), nn.Dropout(cfg["dropout"])]
        features = width
    layers.append(nn.Linear(features, cfg["classes"]))
    return nn.Sequential(*layers)


def paper_step(net, params, moms, x, y, lr, momentum=0.9, wd=0.0005):
    """Forward, backward and the paper's update (v = momentum v - wd lr w - lr g; w += v)
    on one batch; returns the loss."""
    for p in params:
        p.grad = None
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    with torch.no_grad():
        for p, v in zip(params, moms):
            v.mul_(momentum).add_(p, alpha=-wd * lr).add_(p.grad, alpha=-lr)
            p.add_(v)
    return loss.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    cfg = json.load(sys.stdin)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    net = build(cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.01) if p.dim() > 1 else p.zero_()
    net.train()
    params = list(net.parameters())
    moms = [torch.zeros_like(p) for p in params]
    lr, momentum, wd = 0.01, 0.9, 0.0005
    x = torch.randn(args.batch, 3, cfg["inputSize"], cfg["inputSize"]) * 50
    y = torch.randint(0, cfg["classes"], (args.batch,))

    def step():
        return paper_step(net, params, moms, x, y, lr, momentum, wd)

    for _ in range(args.warmup):
        step()
    times, losses = [], []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        losses.append(step())
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({
        "name": "pytorch-cpu",
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "stepsMs": times,
        "losses": losses,
        "parameters": sum(p.numel() for p in params),
    }))


if __name__ == "__main__":
    main()
