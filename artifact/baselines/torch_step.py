#!/usr/bin/env python3
"""The study's training step in PyTorch, as a user would write it: what dpstudy's GPU
figures are set beside.

400-H-10 sigmoid network with bias, binary cross-entropy summed over the 10 outputs and
averaged over the samples (BCE with logits, the stable form), full-batch gradient descent
with learning rate 0.1 through autograd. Data: N random standardised rows and random
labels (timing only, like dpstudy's --data synthetic). Prints the median step time over
the timed steps, after warm-up, with the device synchronised around each step.

    python3 artifact/baselines/torch_step.py --samples 70000 --hidden 50 --dtype f32
"""
import argparse
import json
import statistics
import time

import torch


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=70000)
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--dtype", choices=["f32", "f64"], default="f32")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--device", default="cuda")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    dtype = {"f32": torch.float32, "f64": torch.float64}[args.dtype]
    dev = torch.device(args.device)
    g = torch.Generator(device="cpu").manual_seed(args.seed)
    x = torch.randn(args.samples, 400, generator=g, dtype=dtype).to(dev)
    labels = torch.randint(0, 10, (args.samples,), generator=g).to(dev)
    y = torch.nn.functional.one_hot(labels, 10).to(dtype)
    w1 = (torch.rand(args.hidden, 401, generator=g, dtype=dtype) * 0.24 - 0.12).to(dev).requires_grad_()
    w2 = (torch.rand(10, args.hidden + 1, generator=g, dtype=dtype) * 0.24 - 0.12).to(dev).requires_grad_()

    def step():
        z1 = torch.addmm(w1[:, 0], x, w1[:, 1:].t())
        a1 = torch.sigmoid(z1)
        z2 = torch.addmm(w2[:, 0], a1, w2[:, 1:].t())
        cost = torch.nn.functional.binary_cross_entropy_with_logits(z2, y, reduction="sum") / args.samples
        g1, g2 = torch.autograd.grad(cost, (w1, w2))
        with torch.no_grad():
            w1.sub_(args.lr * g1)
            w2.sub_(args.lr * g2)
        return cost

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        step()
    sync()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    result = {
        "impl": "pytorch " + torch.__version__,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "samples": args.samples,
        "hidden": args.hidden,
        "dtype": args.dtype,
        # PyTorch's default is False: f32 products in full f32, as dpstudy's.
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "steps": args.steps,
        "median_step_s": statistics.median(times),
        "min_step_s": min(times),
        "max_step_s": max(times),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
