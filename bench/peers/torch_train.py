#!/usr/bin/python3
"""Convergence peer: PyTorch on the CPU trains the same network on the same prepared
data with the same recipe as `deno task train`, and prints one JSON line per epoch.

    /usr/bin/python3 bench/peers/torch_train.py --data out/data/fashion-mnist-36 < job.json

job.json is {"config": <model/cli_config.ts JSON>, "recipe": <the recipe train() ran>}; the
convergence bench (bench/_convergence.ts) writes it from the same objects our run uses,
so the two runs cannot drift apart. What is the same:
  - the network (bench/peers/torch_step.py's `build`: grouped convs for the columns,
    LRN per column with the paper's alpha, dropout after fc6 and fc7);
  - the data: the prepared shards (uint8 HWC), the mean image, the RGB PCA;
  - augmentation: a uniform random crop, a horizontal flip with p = 0.5, the paper's PCA
    lighting with a_i ~ N(0, 0.1) on the standard deviations sqrt(eigval) (none when the
    recipe turns lighting off); then (pixel - mean + light) * inputScale;
  - init: kaiming N(0, 2 / fan_in) with zero biases, or the paper's N(0, 0.01) with
    biases 1 in conv2, conv4, conv5, fc6, fc7; fc8's weights times outputGain;
  - SGD written out as the paper's update, the same learning-rate schedule;
  - evaluation: the centre crop of every validation image, top-1 and top-5 error.
What differs: the random streams (PyTorch's generator, not ours), so the two runs see the
same distribution of batches, crops and masks but not the same draws; agreement is
statistical, which is why the bench compares final errors, not step losses.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_step import build, paper_step  # noqa: E402

def load_split(root, index, name):
    s = index["imageSize"]
    split = index["splits"][name]
    images = np.concatenate([
        np.fromfile(os.path.join(root, sh["file"]), dtype=np.uint8).reshape(sh["count"], s, s, 3)
        for sh in split["shards"]
    ])
    labels = np.fromfile(os.path.join(root, split["labels"]), dtype="<i4")
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def init(net, cfg, recipe, seed):
    torch.manual_seed(seed)
    # Conv and fc layers in table order, with the paper's biases from the table.
    layers = [(l, net.layer(l["name"])) for l in cfg["layers"] if l["kind"] in ("conv", "fc")]
    scheme = recipe.get("init", "paper")
    with torch.no_grad():
        for l, m in layers:
            fan_in = m.weight[0].numel()
            std = recipe.get("initStd") or (0.01 if scheme == "paper" else math.sqrt(2 / fan_in))
            m.weight.normal_(0, std)
            m.bias.fill_(l.get("initBias", 0.0) if scheme == "paper" else 0.0)
        layers[-1][1].weight.mul_(recipe.get("outputGain", 1))


def crops(images, idx, mean, crop, scale, train, pca, gen):
    """Crops (and flips, and lights) images[idx] into an f32 NCHW batch."""
    s = images.shape[1]
    x = images[idx].permute(0, 3, 1, 2).float() - mean  # [n, 3, S, S]
    n = len(idx)
    if not train:
        o = int(round((s - crop) / 2))
        return x[:, :, o:o + crop, o:o + crop] * scale
    span = s - crop + 1
    oy = torch.randint(0, span, (n,), generator=gen)
    ox = torch.randint(0, span, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty(n, 3, crop, crop)
    for i in range(n):
        c = x[i, :, oy[i]:oy[i] + crop, ox[i]:ox[i] + crop]
        out[i] = c.flip(2) if flip[i] else c
    if pca is not None:
        vecs, sd = pca
        alphas = torch.randn(n, 3, generator=gen) * 0.1
        light = (alphas * sd) @ vecs.T  # [n, 3]: sum_i p_i a_i sd_i
        out += light[:, :, None, None]
    return out * scale


def evaluate(net, images, labels, mean, crop, scale, batch=256):
    net.eval()
    top1 = top5 = 0
    with torch.no_grad():
        for b in range(0, len(labels), batch):
            idx = torch.arange(b, min(b + batch, len(labels)))
            logits = net(crops(images, idx, mean, crop, scale, False, None, None))
            best = logits.topk(min(5, logits.shape[1]), dim=1).indices
            y = labels[idx]
            top1 += (best[:, 0] == y).sum().item()
            top5 += (best == y[:, None]).any(dim=1).sum().item()
    net.train()
    return 1 - top1 / len(labels), 1 - top5 / len(labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="a prepared dataset folder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N steps (0: all)")
    args = ap.parse_args()
    job = json.load(sys.stdin)
    cfg, recipe = job["config"], job["recipe"]
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.data, "index.json")) as f:
        index = json.load(f)
    s = index["imageSize"]
    mean = torch.from_numpy(
        np.fromfile(os.path.join(args.data, index["mean"]), dtype="<f4").reshape(3, s, s))
    train_x, train_y = load_split(args.data, index, "train")
    val_x, val_y = load_split(args.data, index, "val")
    eigvals = torch.tensor(index["pca"]["eigvals"], dtype=torch.float32).clamp(min=0)
    pca = None
    # Greyscale data (a rank-1 covariance) has no colour to shift: lighting off, as in
    # data/stats.ts `hasColour`.
    colour = index["pca"].get("colour", bool(eigvals[0] > 0 and eigvals[1] > 1e-6 * eigvals[0]))
    if recipe.get("lighting", True) and colour:
        vecs = torch.tensor(index["pca"]["eigvecs"], dtype=torch.float32).reshape(3, 3)
        pca = (vecs, eigvals.sqrt())
    if recipe.get("dropout") is not None:
        cfg = {**cfg, "dropout": recipe["dropout"]}
    net = build(cfg)
    init(net, cfg, recipe, args.seed)
    net.train()
    params = list(net.parameters())
    moms = [torch.zeros_like(p) for p in params]
    gen = torch.Generator().manual_seed(args.seed)
    batch, crop, scale = recipe["batch"], cfg["inputSize"], recipe.get("inputScale", 1)
    steps_per_epoch = len(train_y) // batch
    lr0, lr = recipe["lr"], recipe["lr"]
    step = 0
    t0 = time.perf_counter()
    for epoch in range(recipe["epochs"]):
        lr = lr_at(recipe, lr0, epoch)
        order = torch.randperm(len(train_y), generator=gen)
        losses = []
        for b in range(steps_per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            x = crops(train_x, idx, mean, crop, scale, recipe.get("augment", True), pca, gen)
            loss = paper_step(net, params, moms, x, train_y[idx], lr,
                              recipe.get("momentum", 0.9), recipe.get("weightDecay", 0.0005))
            if not math.isfinite(loss):
                raise SystemExit(f"loss {loss} at step {step + 1}")
            losses.append(loss)
            step += 1
            if args.max_steps and step >= args.max_steps:
                break
        top1, top5 = evaluate(net, val_x, val_y, mean, crop, scale)
        print(json.dumps({
            "epoch": epoch + 1, "step": step, "lr": lr, "loss": sum(losses) / len(losses),
            "top1Error": top1, "top5Error": top5,
            "seconds": time.perf_counter() - t0,
        }), flush=True)
        if args.max_steps and step >= args.max_steps:
            break


def lr_at(recipe, lr0, epoch):
    """The learning rate of `epoch` under the recipe's schedule (model/train.ts
    `stepScheduleLr`); the plateau schedule is not mirrored."""
    kind = recipe.get("schedule", "constant")
    if kind == "step":
        return lr0 * 0.1 ** (epoch // recipe.get("stepEpochs", 30))
    if kind == "constant":
        return lr0
    raise SystemExit(f"torch_train.py: schedule {kind!r} is not mirrored (step or constant)")


if __name__ == "__main__":
    main()
