"""Kernel start to first library result, side by side in one run: our
kernel, stock evcxr_jupyter with `:dep` of the same library, and the Python
kernel with torch; plus the median latency of a trivial cell.

  kernel_start.py [--evcxr PATH] [--starts N] [--trivial N]

"cold" is the first start in this run (right after `make setup` when run by
`make bench`), "warm" the median of the next ones. Stock evcxr_jupyter
builds its dependencies in a fresh folder at every start, so it has no warm
state to reuse; both its numbers are reported as measured.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[1]
LIBRARY_CELL = {
    "deepscope": "Tensor::ones([3], (Kind::Float, Device::Cpu)).sum(Kind::Float).double_value(&[])",
    "python3": "import torch\ntorch.ones(3).sum().item()",
    "evcxr": (
        f':dep deepscope = {{ path = "{ROOT}" }}\n'
        ':dep tch = { version = "=0.26.0", default-features = false }\n'
        "use deepscope::prelude::*;\n"
        "Tensor::ones([3], (Kind::Float, Device::Cpu)).sum(Kind::Float).double_value(&[])"
    ),
}
TRIVIAL_CELL = {"deepscope": "1 + 1", "python3": "1 + 1", "evcxr": "1 + 1"}


def start(name, ksm, timeout=1800):
    km = KernelManager(kernel_name=name, kernel_spec_manager=ksm)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=timeout)
    return km, kc


def execute(kc, code, timeout=1800):
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=lambda m: None)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{code!r}: {reply['content'].get('evalue')}")


def start_to_result(name, ksm):
    t = time.perf_counter()
    km, kc = start(name, ksm)
    execute(kc, LIBRARY_CELL[name])
    elapsed = time.perf_counter() - t
    return elapsed, km, kc


def stop(km, kc):
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def evcxr_spec(binary, folder):
    spec = folder / "kernels" / "evcxr"
    spec.mkdir(parents=True)
    libtorch = str(ROOT / ".venv" / "libtorch")
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [binary, "--control_file", "{connection_file}"],
        "display_name": "Rust (stock evcxr)",
        "language": "rust",
        "env": {"LIBTORCH": libtorch, "LD_LIBRARY_PATH": libtorch + "/lib"},
    }))
    return folder / "kernels"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--evcxr", help="path to a stock evcxr_jupyter binary")
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--trivial", type=int, default=20)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kernel-bench-"))
    dirs = KernelSpecManager().kernel_dirs
    names = ["deepscope", "python3"]
    if args.evcxr and shutil.which(args.evcxr):
        dirs = [str(evcxr_spec(shutil.which(args.evcxr), tmp))] + dirs
        names.append("evcxr")
    ksm = KernelSpecManager(kernel_dirs=dirs)
    results = {}
    try:
        for name in names:
            starts = 2 if name == "evcxr" else args.starts
            times = []
            trivial = []
            for i in range(starts):
                elapsed, km, kc = start_to_result(name, ksm)
                times.append(elapsed)
                print(f"  {name}: start {i + 1}: {elapsed:.1f} s", file=sys.stderr)
                if i == 0:
                    for _ in range(args.trivial):
                        t = time.perf_counter()
                        execute(kc, TRIVIAL_CELL[name])
                        trivial.append(time.perf_counter() - t)
                stop(km, kc)
            results[name] = {
                "cold_s": times[0],
                "warm_s": statistics.median(times[1:]) if len(times) > 1 else None,
                "trivial_median_s": statistics.median(trivial),
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    py = results["python3"]
    print("\nkernel start to first library cell result, and trivial cell latency (median)")
    print(f"{'kernel':28} {'cold':>9} {'warm':>9} {'warm / python':>14} {'trivial cell':>13}")
    labels = {"deepscope": "deepscope (ours)", "python3": "Python + torch (ipykernel)",
              "evcxr": "stock evcxr_jupyter + :dep"}
    for name, r in results.items():
        warm = r["warm_s"]
        ratio = f"{warm / py['warm_s']:.2f}x" if warm and py["warm_s"] else "-"
        warm_text = f"{warm:.1f} s" if warm else "-"
        print(f"{labels[name]:28} {r['cold_s']:8.1f}s {warm_text:>9} {ratio:>14} {r['trivial_median_s'] * 1000:10.0f} ms")
    ours = results["deepscope"]
    print(f"\ntarget: warm start no slower than 3x Python: {ours['warm_s'] / py['warm_s']:.2f}x "
          f"({'met' if ours['warm_s'] <= 3 * py['warm_s'] else 'NOT met'}); "
          f"trivial cell under 1 s: {ours['trivial_median_s']:.2f} s "
          f"({'met' if ours['trivial_median_s'] < 1 else 'NOT met'})")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
