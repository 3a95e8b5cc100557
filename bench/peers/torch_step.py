#!/usr/bin/python3
"""PyTorch-on-CPU peer of the end-to-end benchmark: times training steps of the same
two-column AlexNet at the same batch, and prints one JSON object on stdout.

    /usr/bin/python3 bench/peers/torch_step.py --batch 8 --steps 3 --warmup 1 < config.json

The config is the project's JSON (`deno run model/cli_config.ts --json tiny`): the network
is built from its layer table by reference/torch_alexnet.py, so it is the same network
as ours (grouped Conv2d for the "split" layers, LRN per column with the paper's alpha,
ReLU, overlapping max-pooling, dropout where the table puts it), with:
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
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
from torch_alexnet import AlexNet  # noqa: E402


def build(cfg):
    """The config's layer table as PyTorch modules (reference/torch_alexnet.py)."""
    return AlexNet(cfg)


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
