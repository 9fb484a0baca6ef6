#!/usr/bin/env python3
"""Largest relative difference between two dpstudy weight files (safetensors, f64):
max |a - b| / max |b| over theta1 and theta2. Exits 1 if above the tolerance.

    python3 artifact/gpu/compare_weights.py GPU.safetensors CPU.safetensors 1e-9
"""
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "F64", f"{path}: {name} is {meta['dtype']}, expected F64"
        start, end = meta["data_offsets"]
        out[name] = struct.unpack(f"<{(end - start) // 8}d", body[start:end])
    return out


def main():
    a, b, tol = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
    assert a.keys() == b.keys(), f"different tensors: {sorted(a)} vs {sorted(b)}"
    scale = max(abs(v) for t in b.values() for v in t)
    diff = max(abs(x - y) for k in a for x, y in zip(a[k], b[k]))
    rel = diff / scale
    verdict = "PASS" if rel <= tol else "FAIL"
    print(f"{verdict}: max relative difference {rel:.3e} (tolerance {tol:.0e}) {sys.argv[1]} vs {sys.argv[2]}")
    sys.exit(0 if rel <= tol else 1)


if __name__ == "__main__":
    main()
