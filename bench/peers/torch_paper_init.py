#!/usr/bin/python3
"""Does the paper's recipe itself diverge at batch 4? PyTorch on the CPU, same network
as bench/peers/torch_step.py, the paper's init (weights N(0, 0.01); biases 1 in conv2,
conv4, conv5, fc6, fc7, else 0) or all-zero biases, lr 0.01 or 0.001, the paper's update
(momentum 0.9, weight decay 0.0005), 8 steps on one fixed batch of 4 N(0, 50^2) images
(the scale of mean-subtracted 0..255 pixels). Prints the losses of each setting.

    deno run model/cli_config.ts --json paper > /tmp/paper.json
    /usr/bin/python3 bench/peers/torch_paper_init.py < /tmp/paper.json

Measured (torch 1.13, 2 cores): biases 1 with lr 0.01 reach losses of 30-270 within 8
steps, as our paper-config benchmark does (93.6); with lr 0.001 the loss stays below 8.2,
with zero biases below 7.
"""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_step import build, paper_step  # noqa: E402

BIAS_ONE = (1, 3, 4, 5, 6)  # conv2, conv4, conv5, fc6, fc7 among conv1..5, fc6..8


def run(cfg, bias_one, lr, steps=8):
    torch.manual_seed(0)
    net = build(cfg)
    layers = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        for i, m in enumerate(layers):
            m.weight.normal_(0, 0.01)
            m.bias.fill_(1.0 if bias_one and i in BIAS_ONE else 0.0)
    net.train()
    params = list(net.parameters())
    moms = [torch.zeros_like(p) for p in params]
    x = torch.randn(4, 3, cfg["inputSize"], cfg["inputSize"]) * 50
    y = torch.randint(0, cfg["classes"], (4,))
    return [round(paper_step(net, params, moms, x, y, lr), 2) for _ in range(steps)]


def main():
    cfg = json.load(sys.stdin)
    for bias_one in (True, False):
        for lr in (0.01, 0.001):
            name = "paper biases" if bias_one else "zero biases"
            print(f"{name}, lr {lr}: {run(cfg, bias_one, lr)}", flush=True)


if __name__ == "__main__":
    main()
