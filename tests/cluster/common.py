"""What the cluster tests share: the `deepscope` command, small studies
written to a folder, and running the command here."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, "target", "debug", "deepscope")


EXAMPLE = os.path.join(ROOT, "target", "debug", "examples", "run_study")


def run_study_example():
    """The example program that computes a study through the library's
    engines (built here if `cargo test` has not built it yet)."""
    if not os.access(EXAMPLE, os.X_OK):
        subprocess.run(["cargo", "build", "--quiet", "--example", "run_study"], cwd=ROOT, check=True)
    return EXAMPLE


def check_library_engine(test, folder, env, says):
    """A program (examples/run_study.rs) computes a 3x3 grid through
    `Study::compute(&Engine::from_env())` with `env` naming the engine; its
    live lines include `says`, and its result is one process's, byte for
    byte."""
    settings = grid_settings(points=3)
    expected = single_process(folder, settings)
    path = write(folder, "lib", settings, "lib.out")
    env = dict(env, DEEPSCOPE_SHARDS="2", DEEPSCOPE_BIN=BINARY)
    r = subprocess.run([run_study_example(), path], capture_output=True, text=True, env=env, timeout=300)
    test.assertEqual(r.returncode, 0, r.stdout + r.stderr)
    test.assertIn(says, r.stdout)
    test.assertIn("9 of 9 units done", r.stdout)
    test.assertIn("lenet5 plane: 9 points, loss", r.stdout)
    test.assertEqual(read(os.path.join(folder, "lib.out", "result.json")), expected)


def require_binary(test):
    if not os.access(BINARY, os.X_OK):
        test.fail(f"{BINARY} is not built: run make setup (it builds the deepscope command)")


def grid_settings(points=4):
    """A LeNet-5 loss plane on 64 Fashion-MNIST images, points x points."""
    return {
        "kind": "surface",
        "name": "lenet5 plane",
        "model": {"name": "lenet5"},
        "data": {"dataset": "fashion-mnist", "train_per_class": 10, "test_per_class": 1},
        "eval_count": 64,
        "directions": {"seeds": [1, 2]},
        "x": {"from": -1, "to": 1, "count": points},
        "y": {"from": -1, "to": 1, "count": points},
        "batch": 64,
    }


def sweep_settings(seeds=3, epochs=5, per_class=200):
    """LeNet-5 on a Fashion-MNIST subset, one run per seed."""
    return {
        "kind": "sweep",
        "name": "lenet5 seeds",
        "defaults": {
            "data": {"dataset": "fashion-mnist", "train_per_class": per_class, "test_per_class": 20},
            "model": {"name": "lenet5"},
            "train": {"epochs": epochs, "batch": 50, "lr": 0.05, "momentum": 0.9},
        },
        "runs": [{"seed": s} for s in range(seeds)],
    }


def write(folder, name, settings, output):
    """Writes `settings` with its output folder to `folder/name.json`."""
    path = os.path.join(folder, name + ".json")
    with open(path, "w") as f:
        json.dump(dict(settings, output=output), f, indent=1)
    return path


def deepscope(*args, check=True, env=None):
    r = subprocess.run([BINARY, *args], capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"deepscope {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def single_process(folder, settings):
    """The study computed by one process and merged: the bytes of its result."""
    path = write(folder, "single", settings, "single.out")
    deepscope("run", path)
    deepscope("merge", path)
    with open(os.path.join(folder, "single.out", "result.json"), "rb") as f:
        return f.read()


def read(path):
    with open(path, "rb") as f:
        return f.read()


if "DEEPSCOPE_DATA" not in os.environ:
    os.environ["DEEPSCOPE_DATA"] = os.path.join(ROOT, "data")
sys.dont_write_bytecode = True
