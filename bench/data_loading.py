#!/usr/bin/env python3
"""Data benchmark, Python side, and the comparison table (`make bench`).

The same work as benches/data_loading.rs: read Fashion-MNIST from the data
folder's manifest (SHA-256 check, gunzip, decode to float32 in [0, 1]) and
iterate one shuffled epoch of batches of 128, once with PyTorch eager
(randperm + index_select, the fastest plain way) and once with the usual
TensorDataset + DataLoader. Same libtorch, same number of threads.
"""
import statistics
import time

import torch

from common import fashion_idx, setup


REPEATS = 5
BATCH = 128


def load(data_dir):
    out = {}
    for role in ["train-images", "train-labels", "test-images", "test-labels"]:
        a = torch.from_numpy(fashion_idx(data_dir, role, verify=True).copy())
        out[role] = a.unsqueeze(1).float() / 255.0 if role.endswith("images") else a.long()
    return out


def timed(fn):
    times = []
    for i in range(REPEATS):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ours, data_dir = setup(__doc__.splitlines()[0])

    load_s = timed(lambda _: load(data_dir))
    d = load(data_dir)
    x, y = d["train-images"], d["train-labels"]

    def eager_epoch(epoch):
        g = torch.Generator().manual_seed(epoch)
        perm = torch.randperm(x.shape[0], generator=g)
        total = 0.0
        for i in range(0, x.shape[0], BATCH):
            idx = perm[i:i + BATCH]
            total += x.index_select(0, idx).sum().item() + y.index_select(0, idx).shape[0]
        return total

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=BATCH,
                                         shuffle=True)

    def loader_epoch(_):
        total = 0.0
        for xb, yb in loader:
            total += xb.sum().item() + yb.shape[0]
        return total

    eager_s = timed(eager_epoch)
    loader_s = timed(loader_epoch)
    rows = [
        ("load Fashion-MNIST (sha256, gunzip, decode)", ours["load_s"], load_s, "numpy + torch"),
        ("one shuffled epoch, batches of 128", ours["epoch_s"], eager_s, "torch eager index_select"),
        ("one shuffled epoch, batches of 128", ours["epoch_s"], loader_s, "torch DataLoader"),
    ]
    print(f"data benchmark, {ours['threads']} threads, median of {REPEATS} "
          f"(torch {torch.__version__})")
    print(f"{'task':<46} {'deepscope':>10} {'python':>10} {'speed-up':>9}  python side")
    for task, a, b, how in rows:
        print(f"{task:<46} {a:>9.3f}s {b:>9.3f}s {b / a:>8.2f}x  {how}")


if __name__ == "__main__":
    main()
