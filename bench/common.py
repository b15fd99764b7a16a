"""What the Python side of every benchmark shares: reading our side's
results, matching its thread count, reading Fashion-MNIST from the data
folder's manifest, and the --worker/--report command line of the benchmarks
that alternate processes."""
import argparse
import gzip
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch


def setup(description):
    """Parses --rust, sets torch's threads to ours; returns (ours, data folder)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rust", type=Path, required=True, help="JSON printed by the Rust bench")
    args = parser.parse_args()
    ours = json.loads(args.rust.read_text())
    torch.set_num_threads(ours["threads"])
    return ours, Path(os.environ["DEEPSCOPE_DATA"])


def fashion_idx(data_dir, role, verify=False):
    """One Fashion-MNIST IDX file ("train-images", ...) as a numpy array;
    with verify, its SHA-256 is checked against the manifest first."""
    manifest = json.loads((data_dir / "manifest.json").read_text())
    entry = next(e for e in manifest["entries"] if e["name"] == "fashion-mnist")
    record = entry["files"][role]
    raw = (data_dir / record["path"]).read_bytes()
    if verify and hashlib.sha256(raw).hexdigest() != record["sha256"]:
        raise SystemExit(f"{record['path']}: checksum mismatch")
    raw = gzip.decompress(raw)
    ndim = raw[3]
    dims = [int(d) for d in np.frombuffer(raw[4:4 + 4 * ndim], dtype=">u4")]
    return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def _status_bytes(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def time_and_peak(f):
    """Runs f(); returns (seconds, resident memory at the peak above what was
    resident before, in bytes, f's result): the same probe as the Rust side
    (benches/common/mod.rs), which resets the peak through clear_refs."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    before = _status_bytes("VmRSS")
    t = time.perf_counter()
    out = f()
    seconds = time.perf_counter() - t
    return seconds, max(0, _status_bytes("VmHWM") - before), out


def read_runs(ours_path, theirs_path):
    """The JSON lines of both sides of a multi-process benchmark; refuses
    them if the sides ran with different thread counts. Returns (ours,
    theirs, threads)."""
    ours = [json.loads(l) for l in Path(ours_path).read_text().splitlines() if l.strip()]
    theirs = [json.loads(l) for l in Path(theirs_path).read_text().splitlines() if l.strip()]
    threads = {r["threads"] for r in ours + theirs}
    if len(threads) != 1:
        raise SystemExit(f"the two sides ran with different thread counts {threads}: not comparable")
    return ours, theirs, threads.pop()


def set_threads():
    """Sets torch's thread count for a worker of the alternating benchmarks:
    BENCH_THREADS, as the Rust side reads it (benches/common/mod.rs), else
    every core. Returns it."""
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1)))
    return torch.get_num_threads()


def worker_or_report(usage, worker, report, worker_args=0):
    """The command line of a benchmark that alternates processes:
    `--worker ARG...` (exactly worker_args of them) calls worker(*ARGS),
    which prints one JSON line for this process; `--report OURS THEIRS`
    calls report(OURS, THEIRS) on the collected lines; anything else exits
    with usage."""
    args = sys.argv[1:]
    if args[:1] == ["--worker"] and len(args) == 1 + worker_args:
        worker(*args[1:])
    elif args[:1] == ["--report"] and len(args) == 3:
        report(args[1], args[2])
    else:
        raise SystemExit(usage)
