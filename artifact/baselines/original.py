#!/usr/bin/env python3
"""The original study's implementation, rewritten from its description: the baseline
`dpstudy train --mode original` (and `original-fixed`) runs.

numpy matrices with a bias column, sigmoid layers, binary cross-entropy summed over the
10 outputs and averaged over the samples, full-batch gradient descent. In parallel
(`mpirun -np P`), every rank takes its `numpy.array_split` shard of the rows and computes
the gradient of its shard, and then:

  --variant original   the gradients go to rank 0 through mpi4py's object `gather` (pickled
                       Python objects, as a first mpi4py program would send them), rank 0
                       adds them up, updates the weights and broadcasts them (`bcast`);
                       numpy's BLAS keeps its default threads.
  --variant fixed      one buffer `Allreduce` of the flat gradient (no pickling) and every
                       rank updates; dpstudy pins BLAS to one thread per process.

Each rank's gradient is its shard's summed gradient over the total N, so the sum over the
ranks is the full-batch gradient, whatever the shard sizes: the run must follow dpstudy's
sequential trajectory. Inputs are the .npy files dpstudy exported (the same rows and the
same initial weights); the result is JSON in dpstudy's per-epoch record format, timed by
dpstudy's rules: the clock starts after loading, the epoch's evaluation is timed apart.
"""
import argparse
import json
import os
import socket
import sys
import time

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def with_bias(a):
    return np.hstack([np.ones((a.shape[0], 1), dtype=a.dtype), a])


def forward(theta1, theta2, x1):
    """x1: the rows with their bias column. Returns (hidden activations with bias, outputs)."""
    a1 = with_bias(sigmoid(x1 @ theta1.T))
    return a1, sigmoid(a1 @ theta2.T)


def summed_cost(a2, y):
    return -np.sum(y * np.log(a2) + (1.0 - y) * np.log(1.0 - a2))


def gradient(theta1, theta2, x1, y, n_total):
    """The shard's summed cost, and its summed gradient over n_total."""
    a1, a2 = forward(theta1, theta2, x1)
    d2 = a2 - y
    h = a1[:, 1:]
    d1 = (d2 @ theta2[:, 1:]) * h * (1.0 - h)
    return summed_cost(a2, y), (d1.T @ x1) / n_total, (d2.T @ a1) / n_total


def evaluate(theta1, theta2, x1, labels, y):
    _, a2 = forward(theta1, theta2, x1)
    return summed_cost(a2, y) / len(labels), float(np.mean(np.argmax(a2, axis=1) == labels))


def one_hot(labels, dtype):
    y = np.zeros((len(labels), 10), dtype=dtype)
    y[np.arange(len(labels)), labels] = 1.0
    return y


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", required=True, help="the directory of dpstudy's exported .npy files")
    p.add_argument("--out", required=True, help="where rank 0 writes the JSON result")
    p.add_argument("--variant", choices=["original", "fixed"], required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--iters", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    args = p.parse_args()

    # One process runs without MPI, as the original's sequential program did.
    parallel = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1")) > 1
    if parallel:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        rank, size = comm.Get_rank(), comm.Get_size()
    else:
        comm, rank, size = None, 0, 1

    load = lambda name: np.load(os.path.join(args.inputs, name))
    x_all, labels_all = load("x_train.npy"), load("y_train.npy").astype(np.int64)
    theta1, theta2 = load("theta1.npy"), load("theta2.npy")
    dtype = x_all.dtype
    n_total = len(labels_all)
    rows = np.array_split(np.arange(n_total), size)[rank]
    x1 = with_bias(x_all[rows])
    y = one_hot(labels_all[rows], dtype)
    # Rank 0 evaluates after every epoch on the whole training set and the test rows.
    if rank == 0:
        x1_all, y_all = with_bias(x_all), one_hot(labels_all, dtype)
        has_test = os.path.exists(os.path.join(args.inputs, "x_test.npy"))
        if has_test:
            test_labels = load("y_test.npy").astype(np.int64)
            x1_test, y_test = with_bias(load("x_test.npy")), one_hot(test_labels, dtype)
    lr = dtype.type(args.lr)
    flat = np.empty(theta1.size + theta2.size + 1, dtype=dtype)

    if parallel:
        comm.Barrier()
    started = time.perf_counter()
    step_costs, epochs = [], []
    for epoch in range(1, args.epochs + 1):
        compute = comm_s = update = 0.0
        t_epoch = time.perf_counter()
        for _ in range(args.iters):
            t0 = time.perf_counter()
            cost_sum, g1, g2 = gradient(theta1, theta2, x1, y, n_total)
            t1 = time.perf_counter()
            compute += t1 - t0
            if not parallel:
                t2 = t1
                theta1 = theta1 - lr * g1
                theta2 = theta2 - lr * g2
            elif args.variant == "original":
                parts = comm.gather((cost_sum, g1, g2), root=0)
                t2 = time.perf_counter()
                if rank == 0:
                    cost_sum = sum(part[0] for part in parts)
                    theta1 = theta1 - lr * sum(part[1] for part in parts)
                    theta2 = theta2 - lr * sum(part[2] for part in parts)
                t3 = time.perf_counter()
                theta1, theta2, cost_sum = comm.bcast((theta1, theta2, cost_sum), root=0)
                t4 = time.perf_counter()
                comm_s += (t2 - t1) + (t4 - t3)
                update += t3 - t2
                t2 = t4
            else:
                flat[: theta1.size] = g1.ravel()
                flat[theta1.size : -1] = g2.ravel()
                flat[-1] = cost_sum
                comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
                t2 = time.perf_counter()
                comm_s += t2 - t1
                cost_sum = flat[-1]
                theta1 = theta1 - lr * flat[: theta1.size].reshape(theta1.shape)
                theta2 = theta2 - lr * flat[theta1.size : -1].reshape(theta2.shape)
            if not parallel or args.variant == "fixed":
                update += time.perf_counter() - t2
            step_costs.append(float(cost_sum) / n_total)
        t_eval = time.perf_counter()
        record = {"epoch": epoch, "iterations": args.iters, "compute_spread_s": 0.0}
        if rank == 0:
            record["cost"], record["train_acc"] = map(float, evaluate(theta1, theta2, x1_all, labels_all, y_all))
            test = evaluate(theta1, theta2, x1_test, test_labels, y_test) if has_test else (None, None)
            record["test_cost"], record["test_acc"] = (None if v is None else float(v) for v in test)
        t_end = time.perf_counter()
        times = {
            "rank": rank,
            "compute_s": compute,
            "wait_s": 0.0,  # no barrier before the collectives: waiting is part of comm_s
            "comm_s": comm_s,
            "update_s": update,
            "eval_s": t_end - t_eval,
            "wall_s": t_end - t_epoch,
        }
        record["ranks"] = comm.gather(times, root=0) if parallel else [times]
        if rank == 0:
            computes = [r["compute_s"] for r in record["ranks"]]
            record["compute_spread_s"] = max(computes) - min(computes)
            epochs.append(record)
    total = time.perf_counter() - started
    hosts = comm.gather(socket.gethostname(), root=0) if parallel else [socket.gethostname()]
    if rank == 0:
        import numpy

        runtime = {
            "program": f"original.py --variant {args.variant}",
            "python": sys.version.split()[0],
            "numpy": numpy.__version__,
        }
        if parallel:
            import mpi4py

            runtime["mpi4py"] = mpi4py.__version__
        result = {"ranks": size, "hosts": hosts, "step_costs": step_costs, "epochs": epochs,
                  "total_train_s": total, "runtime": runtime}
        with open(args.out, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
