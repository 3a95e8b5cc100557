#!/usr/bin/python3
"""PyTorch-on-CPU peer of bench/lab_gemm.ts: times each conv layer's three directions
at the lab's shapes, and prints one JSON object on stdout.

    /usr/bin/python3 bench/peers/torch_conv_layers.py --per 8 --reps 7 < layers.json

layers.json maps a layer name to its shape: {"conv2": {"batch": 32, "inChannels": 8,
"size": 15, "outChannels": 16, "kernel": 5, "stride": 1, "padding": 2, "groups": 1}}.
Each direction runs through autograd as a training step would (ReLU included, as in our
kernels): forward under no_grad; backward-weights as the backward of a conv whose input
needs no gradient; backward-data as the backward with the input's gradient minus the
backward-weights time (PyTorch computes both in one call). A figure is the median of
`reps` samples of `per` calls, in milliseconds per call. Threads: torch's default for
this machine (all cores), as the end-to-end peer uses.
"""

import argparse
import json
import sys
import time

import torch


def median_ms(fn, per, reps):
    """Median of `reps` samples of `per` calls of fn, ms per call (one warm-up sample)."""
    fn()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(per):
            fn()
        samples.append((time.perf_counter() - t0) / per * 1000)
    samples.sort()
    return samples[len(samples) // 2]


def time_layer(s, per, reps):
    """Forward, backward-data and backward-weights ms of one layer shape."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(s["inChannels"], s["outChannels"], s["kernel"], s["stride"],
                           s["padding"], groups=s.get("groups", 1))
    x = torch.rand(s["batch"], s["inChannels"], s["size"], s["size"])
    xg = x.clone().requires_grad_(True)
    with torch.no_grad():
        g = torch.rand_like(torch.relu(conv(x)))

    def forward():
        with torch.no_grad():
            torch.relu(conv(x))

    def backward(inp):
        def run():
            torch.relu(conv(inp)).backward(g)
        return run

    fwd = median_ms(forward, per, reps)
    # Each backward sample includes a forward with autograd recording; subtract it.
    weights = max(median_ms(backward(x), per, reps) - fwd, 0.0)
    both = max(median_ms(backward(xg), per, reps) - fwd, 0.0)
    return {"forward": fwd, "backwardData": max(both - weights, 0.0), "backwardWeights": weights}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per", type=int, default=8)
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    layers = json.load(sys.stdin)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "layers": {}}
    for name, s in layers.items():
        out["layers"][name] = time_layer(s, a.per, a.reps)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
