"""Studies as Ray tasks (scripts/ray_study.py) on a local Ray the test
starts: a grid in three tasks, and a sweep whose task's process is killed
mid-run and retried; each merged and compared byte for byte with one
process doing every unit."""

import glob
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from common import BINARY, ROOT, check_library_engine, grid_settings, read, require_binary, single_process, sweep_settings, write
from local_slurm import free_port

RAY = os.path.join(os.path.dirname(sys.executable), "ray")
LAUNCHER = os.path.join(ROOT, "scripts", "ray_study.py")


class Ray(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.temp = tempfile.mkdtemp(prefix="ray-")
        cls.address = f"127.0.0.1:{free_port()}"
        # A test cluster on 127.0.0.1 only, without the token a shared one would need.
        cls.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
        subprocess.run(
            [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={cls.address.split(':')[1]}", "--num-cpus=2", "--num-gpus=0",
             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={cls.temp}"],
            check=True, capture_output=True, env=cls.env,
        )

    @classmethod
    def tearDownClass(cls):
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=cls.env)
        subprocess.run(["rm", "-rf", cls.temp])

    def setUp(self):
        require_binary(self)
        self.tmp = tempfile.TemporaryDirectory(prefix="deepscope-ray-test-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def launcher(self, path, *args):
        return subprocess.Popen(
            [sys.executable, LAUNCHER, path, "--address", self.address, "--binary", BINARY, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env,
        )

    def finish(self, proc, timeout=300):
        out, err = proc.communicate(timeout=timeout)
        self.assertEqual(proc.returncode, 0, f"the launcher failed:\n{out}\n{err}")
        return out

    def test_a_grid_in_three_tasks_merges_to_the_single_process_result(self):
        settings = grid_settings(points=3)
        expected = single_process(self.dir, settings)
        path = write(self.dir, "grid", settings, "grid.out")
        out = self.finish(self.launcher(path, "--shards", "3"))
        self.assertIn("3 Ray tasks of 1 CPUs", out)
        for i in range(3):
            self.assertIn(f"shard {i} of 3, units {3 * i}..{3 * i + 3}: 3 computed", out)
        self.assertIn("9 units merged", out)
        self.assertEqual(read(os.path.join(self.dir, "grid.out", "result.json")), expected)

    def test_a_killed_task_is_retried_and_resumes(self):
        settings = sweep_settings(seeds=3, epochs=6)
        expected = single_process(self.dir, settings)
        path = write(self.dir, "sweep", settings, "sweep.out")
        proc = self.launcher(path, "--shards", "3", "--retries", "2")
        run1 = os.path.join(self.dir, "sweep.out", "runs", "run-1")
        deadline = time.monotonic() + 120
        while not glob.glob(os.path.join(run1, "checkpoint", "checkpoint-epoch*.safetensors")):
            self.assertLess(time.monotonic(), deadline, "shard 1 wrote no checkpoint in 120 s")
            if proc.poll() is not None:
                self.fail(f"the launcher ended before shard 1 saved a checkpoint:\n{proc.communicate()}")
            time.sleep(0.02)
        pids = subprocess.run(["pgrep", "-f", f"{BINARY} run {path} --shard 1 --of 3"], capture_output=True, text=True).stdout.split()
        self.assertEqual(len(pids), 1, pids)
        os.kill(int(pids[0]), signal.SIGKILL)
        self.assertFalse(os.path.exists(os.path.join(run1, "result.json")), "the run finished before the kill")
        out = self.finish(proc)
        self.assertIn("shard 1 done", out)
        self.assertIn("3 units merged", out)
        self.assertEqual(read(os.path.join(self.dir, "sweep.out", "result.json")), expected)

    def test_a_program_hands_its_study_to_ray_through_the_library(self):
        env = dict(self.env, DEEPSCOPE_ENGINE="ray", DEEPSCOPE_PYTHON=sys.executable, RAY_ADDRESS=self.address)
        check_library_engine(self, self.dir, env, "as 2 Ray tasks (Ray launcher, pid")


if __name__ == "__main__":
    unittest.main()
