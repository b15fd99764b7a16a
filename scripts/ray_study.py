#!/usr/bin/env python3
"""Runs a deepscope study's shards as Ray tasks, retries the failed ones, and
merges: the same units `deepscope run` computes, on a Ray cluster.

    .venv/bin/python scripts/ray_study.py SETTINGS --shards N \
        [--cpus C] [--gpus G] [--retries R] [--address HOST:PORT]

Each task runs `deepscope run SETTINGS --shard I --of N` with C CPUs and G
GPUs reserved (C defaults to the study's threads). A task whose command
fails (a crash, a killed process, a lost node) is retried up to R times;
the retry resumes where the unit stopped (finished units are skipped, a
run resumes from its last epoch checkpoint). When every shard has
succeeded, `deepscope merge SETTINGS` writes <output>/result.json.
Without --address it joins the cluster in $RAY_ADDRESS, else starts a
local one for the duration of the call.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import ray

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_binary():
    found = shutil.which("deepscope")
    return found or os.path.join(ROOT, "target", "debug", "deepscope")


def status(binary, settings):
    r = subprocess.run([binary, "status", settings, "--json"], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


@ray.remote
def shard(binary, settings, index, of, env):
    """One shard, by the deepscope command; an exception (so Ray retries)
    if it does not finish."""
    started = time.monotonic()
    r = subprocess.run([binary, "run", settings, "--shard", str(index), "--of", str(of)],
                       capture_output=True, text=True, env={**os.environ, **env})
    if r.returncode != 0:
        raise RuntimeError(f"shard {index} of {of} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return index, time.monotonic() - started, r.stdout.strip()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("settings")
    p.add_argument("--shards", type=int, required=True)
    p.add_argument("--cpus", type=float, default=None, help="CPUs per task (default: the study's threads)")
    p.add_argument("--gpus", type=float, default=0, help="GPUs per task")
    p.add_argument("--retries", type=int, default=3, help="attempts after the first for a failed task")
    p.add_argument("--address", default=None, help="a running Ray cluster (default: $RAY_ADDRESS, else a local one)")
    p.add_argument("--binary", default=default_binary(), help="the deepscope command")
    a = p.parse_args(argv)
    if a.shards < 1:
        p.error("--shards must be >= 1")
    settings = os.path.abspath(a.settings)
    binary = os.path.abspath(a.binary)
    before = status(binary, settings)
    cpus = a.cpus if a.cpus is not None else before["threads"]
    env = {k: os.environ[k] for k in ("DEEPSCOPE_DATA",) if k in os.environ}

    ray.init(address=a.address, include_dashboard=False, logging_level="warning", log_to_driver=False)
    started = time.monotonic()
    task = shard.options(num_cpus=cpus, num_gpus=a.gpus, max_retries=a.retries, retry_exceptions=True)
    pending = [task.remote(binary, settings, i, a.shards, env) for i in range(a.shards)]
    print(f"{before['name']}: {before['done']} of {before['total']} units done; {a.shards} Ray tasks of {cpus:g} CPUs, {a.gpus:g} GPUs", flush=True)
    failed = []
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        try:
            index, seconds, line = ray.get(done[0])
            now = status(binary, settings)
            print(f"shard {index} done in {seconds:.1f} s ({line}); {now['done']} of {now['total']} units done", flush=True)
        except ray.exceptions.RayError as e:
            failed.append(str(e).strip().splitlines()[-1])
    wall = time.monotonic() - started
    ray.shutdown()
    if failed:
        print(f"{len(failed)} shards failed after {a.retries} retries:", *failed, sep="\n  ", file=sys.stderr)
        return 1
    r = subprocess.run([binary, "merge", settings], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        return 1
    print(f"{r.stdout.strip()} ({wall:.1f} s on Ray)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
