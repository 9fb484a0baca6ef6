#!/usr/bin/env python3
"""The study's training in PyTorch on the CPU, written the usual PyTorch way: the baseline
`dpstudy train --mode torch` (one process, `--threads T`) and `--mode torch-ddp`
(DistributedDataParallel with the gloo backend, one process per rank, started by dpstudy
under `mpirun -np P`, which gives each its rank).

The 400-H-10 sigmoid network as a module with two weight matrices that carry their bias
column (theta1: H x 401, theta2: 10 x (H + 1)), binary cross-entropy on the logits summed
over the 10 outputs and averaged over the samples, full-batch gradient descent through
autograd and `torch.optim.SGD`. Under DDP each rank's loss is its shard's summed loss
times P / N: DDP averages the gradients over the P ranks, so their mean is the full-batch
gradient whatever the shard sizes (`numpy.array_split`'s). Inputs are the .npy files
dpstudy exported; the result is JSON in dpstudy's per-epoch record format, timed by
dpstudy's rules: the clock starts after loading, the epoch's evaluation is timed apart.
"""
import argparse
import json
import os
import socket
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


class Network(torch.nn.Module):
    def __init__(self, theta1, theta2):
        super().__init__()
        self.theta1 = torch.nn.Parameter(theta1)
        self.theta2 = torch.nn.Parameter(theta2)

    def forward(self, x):
        hidden = torch.sigmoid(F.linear(x, self.theta1[:, 1:], self.theta1[:, 0]))
        return F.linear(hidden, self.theta2[:, 1:], self.theta2[:, 0])


def evaluate(model, x, labels, y):
    with torch.no_grad():
        logits = model(x)
        cost = F.binary_cross_entropy_with_logits(logits, y, reduction="sum") / len(labels)
        return float(cost), float((logits.argmax(dim=1) == labels).double().mean())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", required=True, help="the directory of dpstudy's exported .npy files")
    p.add_argument("--out", required=True, help="where rank 0 writes the JSON result")
    p.add_argument("--threads", type=int, required=True, help="torch.set_num_threads in every process")
    p.add_argument("--ddp", action="store_true", help="DistributedDataParallel over mpirun's ranks")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--iters", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    rank, size = 0, 1
    if args.ddp:
        import torch.distributed as dist

        rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
        size = int(os.environ["OMPI_COMM_WORLD_SIZE"])
        dist.init_process_group("gloo", rank=rank, world_size=size)

    load = lambda name: torch.from_numpy(np.load(os.path.join(args.inputs, name)))
    x_all, labels_all = load("x_train.npy"), load("y_train.npy").long()
    n_total = len(labels_all)
    rows = torch.from_numpy(np.array_split(np.arange(n_total), size)[rank])
    x, labels = x_all[rows].contiguous(), labels_all[rows]
    y = F.one_hot(labels, 10).to(x.dtype)
    model = Network(load("theta1.npy"), load("theta2.npy"))
    trained = model
    if args.ddp:
        trained = torch.nn.parallel.DistributedDataParallel(model)
    optimiser = torch.optim.SGD(model.parameters(), lr=args.lr)
    if rank == 0:
        y_all = F.one_hot(labels_all, 10).to(x.dtype)
        has_test = os.path.exists(os.path.join(args.inputs, "x_test.npy"))
        if has_test:
            x_test, test_labels = load("x_test.npy"), load("y_test.npy").long()
            y_test = F.one_hot(test_labels, 10).to(x.dtype)
    # The summed cost of the shard rides along with the gradient: one more allreduce under
    # DDP, counted as communication.
    scale = size / n_total

    if args.ddp:
        dist.barrier()
    started = time.perf_counter()
    step_costs, epochs = [], []
    for epoch in range(1, args.epochs + 1):
        compute = comm = update = 0.0
        t_epoch = time.perf_counter()
        for _ in range(args.iters):
            t0 = time.perf_counter()
            optimiser.zero_grad(set_to_none=True)
            summed = F.binary_cross_entropy_with_logits(trained(x), y, reduction="sum")
            # Under DDP the backward pass overlaps the gradient allreduce: it is timed as
            # compute, as a user of DDP would see it.
            (summed * scale).backward()
            t1 = time.perf_counter()
            compute += t1 - t0
            cost_sum = summed.detach().clone()
            if args.ddp:
                dist.all_reduce(cost_sum)
            t2 = time.perf_counter()
            comm += t2 - t1
            optimiser.step()
            update += time.perf_counter() - t2
            step_costs.append(float(cost_sum) / n_total)
        t_eval = time.perf_counter()
        record = {"epoch": epoch, "iterations": args.iters, "compute_spread_s": 0.0}
        if rank == 0:
            record["cost"], record["train_acc"] = evaluate(model, x_all, labels_all, y_all)
            record["test_cost"], record["test_acc"] = (
                evaluate(model, x_test, test_labels, y_test) if has_test else (None, None)
            )
        t_end = time.perf_counter()
        times = [compute, 0.0, comm, update, t_end - t_eval, t_end - t_epoch]
        if args.ddp:
            everyone = [None] * size
            dist.all_gather_object(everyone, times)
        else:
            everyone = [times]
        names = ["compute_s", "wait_s", "comm_s", "update_s", "eval_s", "wall_s"]
        record["ranks"] = [dict(rank=r, **dict(zip(names, t))) for r, t in enumerate(everyone)]
        computes = [t[0] for t in everyone]
        record["compute_spread_s"] = max(computes) - min(computes)
        epochs.append(record)
    total = time.perf_counter() - started
    hosts = [socket.gethostname()]
    if args.ddp:
        hosts = [None] * size
        dist.all_gather_object(hosts, socket.gethostname())
    if rank == 0:
        runtime = {
            "program": "torch_train.py" + (" --ddp (gloo)" if args.ddp else ""),
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        }
        result = {"ranks": size, "hosts": hosts, "step_costs": step_costs, "epochs": epochs,
                  "total_train_s": total, "runtime": runtime}
        with open(args.out, "w") as f:
            json.dump(result, f)
    if args.ddp:
        # Every rank is done with the group before any tears it down (rank 0's store
        # goes away with it).
        dist.barrier()
        # DDP's reducer holds the group: drop it first, or destroy_process_group leaves
        # gloo's worker threads alive into interpreter shutdown, where they can abort the
        # process (SIGABRT, exit status 134; seen once in CI after the result was written).
        del trained, optimiser
        dist.destroy_process_group()
        # Nothing is left to do: leave without interpreter finalization, the one place that
        # abort can still come from.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
