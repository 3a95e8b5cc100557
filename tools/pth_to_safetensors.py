#!/usr/bin/python3
"""Converts a PyTorch state dict (.pth) to a safetensors file of float32 tensors, for
`deno task import` (which checks the names and shapes against a config and writes a
checkpoint):

    /usr/bin/python3 tools/pth_to_safetensors.py alexnet.pth alexnet.safetensors
    deno task import --config torchvision --weights alexnet.safetensors --out out/tv

Accepts what `torch.save` usually holds: a state dict, a whole module, or a dict with
the state dict under "state_dict" or "model". Needs PyTorch (Debian: python3-torch);
the file is loaded with weights_only where this PyTorch supports it.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402


def state_dict_of(obj, path):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], (dict, torch.nn.Module)):
                return state_dict_of(obj[key], path)
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    sys.exit(f"{path}: expected a state dict (name -> tensor), got {type(obj).__name__}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    try:
        obj = torch.load(src, map_location="cpu", weights_only=True)
    except TypeError:  # PyTorch < 1.13 has no weights_only
        obj = torch.load(src, map_location="cpu")
    sd = state_dict_of(obj, src)
    # Buffers that are not parameters (e.g. BatchNorm's num_batches_tracked) are not floats.
    tensors = {k: v.detach().to(torch.float32).contiguous().cpu().numpy()
               for k, v in sd.items() if v.is_floating_point()}
    write_safetensors(dst, tensors, {"format": "pt", "source": os.path.basename(src)})
    print(f"wrote {dst}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
