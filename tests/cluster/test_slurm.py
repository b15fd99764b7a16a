"""Studies on a real (one-node) Slurm: a loss grid in four array tasks, a
sweep whose killed task is submitted again, each merged by the dependent
merge job and compared byte for byte with one process doing every unit."""

import glob
import os
import tempfile
import time
import unittest

from common import check_library_engine, deepscope, grid_settings, read, require_binary, single_process, sweep_settings, write
from local_slurm import LocalSlurm


class Slurm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.slurm = LocalSlurm().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.slurm.__exit__(None, None, None)

    def setUp(self):
        require_binary(self)
        self.tmp = tempfile.TemporaryDirectory(prefix="deepscope-slurm-test-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def submit(self, path, *args):
        return deepscope("slurm", path, *args, env=self.slurm.env())

    def test_a_grid_in_four_array_tasks_merges_to_the_single_process_result(self):
        settings = grid_settings(points=4)
        expected = single_process(self.dir, settings)
        path = write(self.dir, "grid", settings, "grid.out")
        r = self.submit(path, "--shards", "4", "--wait")
        self.assertIn("array job", r.stdout)
        out = os.path.join(self.dir, "grid.out")
        self.assertEqual(read(os.path.join(out, "result.json")), expected, "the merged grid differs from one process's")
        logs = sorted(p for p in glob.glob(os.path.join(out, "slurm", "logs", "*_*.out")) if "merge" not in p)
        self.assertEqual(len(logs), 4, logs)
        text = "".join(read(p).decode() for p in logs)
        for i in range(4):
            self.assertIn(f"shard {i} of 4, units {4 * i}..{4 * i + 4}: 4 computed", text)
        self.assertEqual(len(glob.glob(os.path.join(out, "shard-*.json"))), 4)

    def test_a_killed_task_resubmitted_resumes_and_the_sweep_completes(self):
        settings = sweep_settings(seeds=3, epochs=6)
        expected = single_process(self.dir, settings)
        path = write(self.dir, "sweep", settings, "sweep.out")
        r = self.submit(path, "--shards", "3")
        array = r.stdout.split("array job ")[1].split()[0]
        checkpoint = os.path.join(self.dir, "sweep.out", "runs", "run-1", "checkpoint")
        deadline = time.monotonic() + 120
        while not glob.glob(os.path.join(checkpoint, "checkpoint-epoch*.safetensors")):
            self.assertLess(time.monotonic(), deadline, "task 1 wrote no checkpoint in 120 s")
            time.sleep(0.02)
        self.slurm.run("scancel", "--signal=KILL", "--full", f"{array}_1")
        # The other tasks finish; the merge job, whose dependency can no
        # longer be met, is cancelled.
        self.slurm.wait_idle()
        run1 = os.path.join(self.dir, "sweep.out", "runs", "run-1")
        self.assertFalse(os.path.exists(os.path.join(run1, "result.json")), "the killed run finished anyway: kill it earlier")
        self.assertTrue(glob.glob(os.path.join(checkpoint, "checkpoint-epoch*.safetensors")))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "sweep.out", "result.json")))
        status = deepscope("status", path).stdout
        self.assertIn("2 of 3 units done", status)

        self.submit(path, "--shards", "3", "--tasks", "1", "--wait")
        self.assertEqual(read(os.path.join(self.dir, "sweep.out", "result.json")), expected, "the resumed sweep differs from one process's")
        # The resubmitted task resumed: it did not train the first epoch again.
        resumed = [p for p in glob.glob(os.path.join(self.dir, "sweep.out", "slurm", "logs", "*_1.out")) if not p.endswith(f"{array}_1.out")]
        self.assertEqual(len(resumed), 1, resumed)
        log = read(resumed[0]).decode()
        self.assertIn("shard 1 of 3, units 1..2: 1 computed", log)
        self.assertNotIn("epoch 1/6", log)
        self.assertIn("epoch 6/6", log)

    def test_a_program_hands_its_study_to_slurm_through_the_library(self):
        env = dict(self.slurm.env(), DEEPSCOPE_ENGINE="slurm")
        check_library_engine(self, self.dir, env, "as 2 Slurm array tasks (Slurm jobs")


if __name__ == "__main__":
    unittest.main()
