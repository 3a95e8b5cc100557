"""Writes and reads safetensors files of float32 and int32 arrays with numpy alone (the
`safetensors` package is not in Debian): an 8-byte little-endian header length, the JSON
header padded with spaces to an 8-byte boundary, then the raw little-endian data with
contiguous offsets in header order. Used by tools/pth_to_safetensors.py and the test
fixtures' generators (tests/fixtures/make_*.py).
"""

import json
import os
import struct
from pathlib import Path

import numpy as np


def write_safetensors(path, tensors, metadata):
    """Writes {name: array} (F32 or I32) with `metadata` (str -> str), atomically."""
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, a in tensors.items():
        a = np.asarray(a)  # not ascontiguousarray: it turns a scalar into shape [1]
        a = a if a.flags.c_contiguous else a.copy(order="C")
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}[a.dtype]
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_safetensors(path):
    """Minimal reader, used to check the writer's output round-trips."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        dt = {"F32": "<f4", "I32": "<i4"}[e["dtype"]]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + end], dtype=dt).reshape(tuple(e["shape"]))
    return out, meta
