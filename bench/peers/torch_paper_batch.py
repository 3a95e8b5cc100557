#!/usr/bin/python3
"""PyTorch side of bench/paper_batch.ts: the paper config from our initial weights on
the same batches (the same images in the same order, centre crops, minus the mean
image, 0..255 scale), the paper's update at lr 0.01, dropout 0.5 with PyTorch's own
masks. Prints {"losses": [...]} on stdout.

    /usr/bin/python3 bench/peers/torch_paper_batch.py out/bench/paper-batch128/job.json
"""

import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_step import build, paper_step  # noqa: E402
from torch_train import load_split  # noqa: E402


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    cfg = job["config"]
    torch.manual_seed(job["seed"])
    torch.set_num_threads(os.cpu_count() or 1)
    with open(os.path.join(job["data"], "index.json")) as f:
        index = json.load(f)
    s, crop = index["imageSize"], cfg["inputSize"]
    mean = torch.from_numpy(
        np.fromfile(os.path.join(job["data"], index["mean"]), dtype="<f4").reshape(3, s, s))
    images, labels = load_split(job["data"], index, "train")
    net = build(cfg)
    flat = torch.from_numpy(np.fromfile(job["init"], dtype="<f4"))
    params = list(net.parameters())
    if len(params) != len(job["params"]):
        raise SystemExit(f"{len(params)} parameters in the network, {len(job['params'])} in the job")
    at = 0
    with torch.no_grad():
        for p, spec in zip(params, job["params"]):
            if p.numel() != spec["size"]:
                raise SystemExit(f"{spec['name']}: {spec['size']} values, the network has {p.numel()}")
            p.copy_(flat[at:at + spec["size"]].reshape(p.shape))
            at += spec["size"]
    net.train()
    moms = [torch.zeros_like(p) for p in params]
    o = int(round((s - crop) / 2))
    losses = []
    for i, idx in enumerate(job["order"]):
        idx = torch.tensor(idx)
        x = (images[idx].permute(0, 3, 1, 2).float() - mean)[:, :, o:o + crop, o:o + crop]
        t = time.perf_counter()
        losses.append(paper_step(net, params, moms, x.contiguous(), labels[idx], job["lr"]))
        print(f"  pytorch step {i + 1}: loss {losses[-1]:.4f} ({time.perf_counter() - t:.1f} s)",
              file=sys.stderr, flush=True)
    print(json.dumps({"losses": losses}))


if __name__ == "__main__":
    main()
