"""What running a study elsewhere costs and gains: one loss grid computed
by one process, and as 2 shards on a local one-node Slurm and as 2 Ray
tasks on a local Ray; then the overhead per unit of each engine, from a
study of near-empty units run one unit per task (engine wall-clock minus
the same units in one process, over the units).

    .venv/bin/python bench/cluster.py     (make bench runs it; needs root for Slurm)

Slurm and Ray are started here and stopped after; the timed part of each
engine is submission to merged result (for Ray, not the cluster's start).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cluster"))

from common import BINARY, ROOT, deepscope, write  # noqa: E402
from local_slurm import LocalSlurm, free_port, skip_reason  # noqa: E402

RAY = os.path.join(os.path.dirname(sys.executable), "ray")
LAUNCHER = os.path.join(ROOT, "scripts", "ray_study.py")


def grid(points, images, name, model, pool=1):
    return {
        "kind": "surface",
        "name": name,
        "model": model,
        "data": {"dataset": "fashion-mnist", "train_per_class": max(1, images // 10), "test_per_class": 1, "pool": pool},
        "eval_count": images,
        "directions": {"seeds": [1, 2]},
        "x": {"from": -1, "to": 1, "count": points},
        "y": {"from": -1, "to": 1, "count": points},
        "batch": min(images, 500),
    }


def timed(argv, env=None):
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - t


def until_merged(argv, result, env, timeout=3600):
    """Submits with `argv` and waits for the merged result by watching for
    its file (sbatch --wait polls at growing intervals, which would be
    timed too)."""
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    while not os.path.exists(result):
        if time.perf_counter() - t > timeout:
            raise SystemExit(f"no {result} after {timeout} s")
        time.sleep(0.05)
    return time.perf_counter() - t


def one_process(folder, settings, name):
    path = write(folder, name, settings, name + ".out")
    t = time.perf_counter()
    deepscope("run", path)
    deepscope("merge", path)
    return time.perf_counter() - t, path


def main():
    work = tempfile.mkdtemp(prefix="deepscope-bench-cluster-")
    # The loss-surface notebook's kind of grid: ResNet-20 on 14x14 images.
    big = grid(points=13, images=2000, name="bench grid", model={"name": "cifar_resnet", "n": 3}, pool=2)
    tiny = grid(points=4, images=1, name="bench empty units", model={"name": "lenet5"})
    units_big, units_tiny = 169, 16
    rows = []
    single, single_path = one_process(work, big, "big-single")
    tiny_single, _ = one_process(work, tiny, "tiny-single")
    rows.append(("one process", single, None))
    reference = open(os.path.join(work, "big-single.out", "result.json"), "rb").read()

    reason = skip_reason()
    if reason:
        print(f"Slurm: skipped ({reason})")
    else:
        with LocalSlurm() as slurm:
            env = slurm.env()
            path = write(work, "big-slurm", big, "big-slurm.out")
            t = until_merged([BINARY, "slurm", path, "--shards", "2"], os.path.join(work, "big-slurm.out", "result.json"), env)
            same = open(os.path.join(work, "big-slurm.out", "result.json"), "rb").read() == reference
            rows.append(("Slurm, 2 array tasks", t, same))
            path = write(work, "tiny-slurm", tiny, "tiny-slurm.out")
            slurm_tiny = until_merged([BINARY, "slurm", path, "--shards", str(units_tiny)], os.path.join(work, "tiny-slurm.out", "result.json"), env)

    temp = tempfile.mkdtemp(prefix="ray-")
    address = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    t = time.perf_counter()
    subprocess.run([RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={address.split(':')[1]}",
                    f"--num-cpus={os.cpu_count()}", "--include-dashboard=false", "--disable-usage-stats",
                    f"--temp-dir={temp}"], check=True, capture_output=True, env=env)
    ray_start = time.perf_counter() - t
    try:
        path = write(work, "big-ray", big, "big-ray.out")
        t = timed([sys.executable, LAUNCHER, path, "--shards", "2", "--address", address, "--binary", BINARY], env)
        same = open(os.path.join(work, "big-ray.out", "result.json"), "rb").read() == reference
        rows.append(("Ray, 2 tasks", t, same))
        path = write(work, "tiny-ray", tiny, "tiny-ray.out")
        ray_tiny = timed([sys.executable, LAUNCHER, path, "--shards", str(units_tiny), "--address", address, "--binary", BINARY], env)
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=env)
        subprocess.run(["rm", "-rf", temp])

    print(f"\nA {units_big}-point ResNet-20 loss grid on 2,000 Fashion-MNIST images at 14x14, {os.cpu_count()} cores, 1 thread per unit:")
    print(f"{'':24} {'wall s':>8} {'speed-up':>9}  merged result")
    for name, t, same in rows:
        merged = "reference" if same is None else ("identical" if same else "DIFFERS")
        print(f"{name:24} {t:8.2f} {single / t:8.2f}x  {merged}")
    print(f"\nOverhead per unit ({units_tiny} units of one image, one task each; in one process they take {tiny_single:.2f} s):")
    if not reason:
        print(f"  Slurm: {(slurm_tiny - tiny_single) / units_tiny:.2f} s per unit ({slurm_tiny:.2f} s in all, submission to merged)")
    print(f"  Ray:   {(ray_tiny - tiny_single) / units_tiny:.2f} s per unit ({ray_tiny:.2f} s in all, connecting the driver included; starting the local Ray took {ray_start:.1f} s more)")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
