"""Ready evaluators: a kernel that Jupyter starts is served by an evaluator
the service prepared ahead of time, with its own process, environment and
folder; faults (a stale or broken evaluator, a service killed in the middle,
a flood of requests) still end in a kernel that answers.

Each class runs its own service: a fixed variable of its own
(DEEPSCOPE_KERNEL_TEST_SERVICE) gives it its own socket.
"""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import uuid
from pathlib import Path

from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ROOT / "target" / "debug" / "deepscope-kernel"
LAUNCHER = ROOT / "target" / "debug" / "deepscope-kernel-launcher"
CELL_TIMEOUT = 300


def run(kc, code, timeout=CELL_TIMEOUT):
    outputs = []
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=outputs.append)
    return reply["content"], outputs


def result_text(outputs):
    for m in outputs:
        if m["msg_type"] == "execute_result":
            return m["content"]["data"]["text/plain"]
    return None


def alive(pid):
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(pid):
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for k in kids:
            out.append(int(k))
            out.extend(descendants(int(k)))
    return out


def setUpModule():
    # Services of other environments (the kernels of the other test
    # modules) hold ready evaluators in build folders of the pool; stopped,
    # they leave those folders, already built, to this module's services.
    subprocess.run([KERNEL, "ready", "stop", "--all"], capture_output=True, timeout=60)


class Service:
    """The service of one environment, seen through `deepscope-kernel ready`."""

    def __init__(self, **extra):
        self.tag = uuid.uuid4().hex
        self.env = dict(os.environ, DEEPSCOPE_KERNEL_TEST_SERVICE=self.tag,
                        DEEPSCOPE_KERNEL_READY="1", DEEPSCOPE_KERNEL_READY_IDLE="600", **extra)
        self.logs = Path(tempfile.mkdtemp(prefix="ready-test-"))
        self.files = []

    def status(self):
        """This service's state ({} while none runs)."""
        out = subprocess.run([KERNEL, "ready", "status", "--json"], env=self.env,
                             capture_output=True, text=True, timeout=30)
        for s in json.loads(out.stdout):
            if s["fixed"].get("DEEPSCOPE_KERNEL_TEST_SERVICE") == self.tag:
                return s
        return {}

    def wait_ready(self, timeout=600):
        """The pid of a ready evaluator."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.status()
            for e in s.get("evaluators", []):
                if e["state"] == "ready":
                    return e["pid"]
            time.sleep(0.5)
        raise AssertionError(f"no evaluator became ready: {s}")

    def stop(self):
        for f in self.files:
            f.close()
        self.stop_service()

    def stop_service(self):
        """Stops the service (its kernels go on; their logs stay open)."""
        state = self.status()
        if state:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(state["socket"])
                s.sendall(b'{"stop": true}\n')
                s.recv(4096)

    def start(self, cwd=None, **extra):
        """(kernel manager, client, log path) of a new kernel."""
        log = self.logs / f"kernel-{uuid.uuid4().hex[:8]}.log"
        km = KernelManager(kernel_name="deepscope")
        # Kept open: a restart launches the kernel again with it.
        self.files.append(open(log, "w"))
        km.start_kernel(env=dict(self.env, **extra), cwd=cwd, stderr=self.files[-1])
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        return km, kc, log


def stop_kernel(km, kc):
    kc.stop_channels()
    km.shutdown_kernel(now=True)


class ReadyEvaluators(unittest.TestCase):
    """With the library preloaded: the real thing."""

    # Build folders: every one a test needs has been built before (a new
    # one costs minutes): `make setup`'s warm builds slot 0 and copies it
    # to slot 1, the first kernel's and the ready evaluator's.
    # The first kernel stops once the service has an evaluator ready, so
    # each replacement finds a built folder free, and the service is
    # stopped before a third would be needed.

    @classmethod
    def setUpClass(cls):
        cls.service = Service()
        km, kc, log = cls.service.start()
        run(kc, "1")  # its preload done, it starts the service
        cls.service.wait_ready()
        stop_kernel(km, kc)
        cls.first_log = log

    @classmethod
    def tearDownClass(cls):
        cls.service.stop()

    def test_a_taken_kernel_has_its_own_state_environment_and_folder(self):
        self.assertIn("starting without a ready evaluator", self.first_log.read_text())
        self.service.wait_ready()
        first_km, first, _ = self.service.start()
        content, _ = run(first, "let secret_of_the_first = 41 + 1;")
        self.assertEqual(content["status"], "ok")
        self.service.wait_ready()
        folder = tempfile.mkdtemp(prefix="ready-cwd-")
        t = time.perf_counter()
        km, kc, log = self.service.start(cwd=folder, DEEPSCOPE_TEST_LATE="late value")
        # Two kernels hold the two built folders: no third is prepared.
        self.service.stop_service()
        try:
            content, outputs = run(kc, "Tensor::ones([3], (Kind::Float, Device::Cpu)).sum(Kind::Float).double_value(&[])")
            elapsed = time.perf_counter() - t
            self.assertEqual(content["status"], "ok", content)
            self.assertEqual(result_text(outputs), "3.0")
            print(f"\n  start to a library result through a ready evaluator: {elapsed:.1f} s")
            self.assertIn("serving from a ready evaluator", log.read_text())
            # What Jupyter started is the launcher, which never loaded
            # libtorch: it only waits while the evaluator serves.
            pid = km.provisioner.process.pid
            self.assertEqual(Path(f"/proc/{pid}/exe").resolve(), LAUNCHER.resolve())
            self.assertNotIn("libtorch_cpu", Path(f"/proc/{pid}/maps").read_text())
            content, _ = run(kc, "secret_of_the_first")
            self.assertEqual(content["status"], "error", "state of another kernel leaked")
            _, outputs = run(kc, 'std::env::var("DEEPSCOPE_TEST_LATE").unwrap()')
            self.assertEqual(result_text(outputs), '"late value"')
            _, outputs = run(kc, "std::env::current_dir().unwrap().display().to_string()")
            self.assertEqual(result_text(outputs), json.dumps(str(Path(folder).resolve())))
            # A build run by a cell sees the same (cargo inherits the evaluator's).
            _, outputs = run(kc, 'std::process::Command::new("sh").args(["-c", "echo $DEEPSCOPE_TEST_LATE; pwd"]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap()')
            self.assertEqual(result_text(outputs), json.dumps(f"late value\n{Path(folder).resolve()}\n"))
            # The first kernel is untouched. Stopped, it leaves its folder
            # to the evaluator the restarted kernel's service prepares.
            _, outputs = run(first, "secret_of_the_first")
            self.assertEqual(result_text(outputs), "42")
            stop_kernel(first_km, first)
            # A restart is a new kernel: nothing of the old one.
            run(kc, "let before_restart = 1;")
            km.restart_kernel(now=False)
            kc.wait_for_ready(timeout=120)
            content, _ = run(kc, "before_restart")
            self.assertEqual(content["status"], "error")
            _, outputs = run(kc, "1 + 1")
            self.assertEqual(result_text(outputs), "2")
        finally:
            stop_kernel(km, kc)
            if first_km.is_alive():
                stop_kernel(first_km, first)

    def test_a_killed_kernel_leaves_nothing_running(self):
        evaluator = self.service.wait_ready()
        km, kc, log = self.service.start()
        try:
            run(kc, "let x = 1;")
            self.assertIn(f"pid {evaluator}", log.read_text())
            family = [evaluator] + descendants(evaluator)
            self.assertGreaterEqual(len(family), 2, "an evaluator and its evaluation process")
            os.kill(km.provisioner.process.pid, signal.SIGKILL)
            km.provisioner.process.wait(timeout=15)
            deadline = time.time() + 15
            while time.time() < deadline and any(alive(p) for p in family):
                time.sleep(0.2)
            self.assertEqual([p for p in family if alive(p)], [], "orphans after a SIGKILL")
        finally:
            kc.stop_channels()
            km.cleanup_resources()


class ReadyFaults(unittest.TestCase):
    """Faults, on plain Rust kernels (no library to compile: cheap evaluators)."""

    @classmethod
    def setUpClass(cls):
        cls.service = Service(DEEPSCOPE_KERNEL_PRELOAD="none")
        km, kc, _ = cls.service.start()
        run(kc, "1")
        stop_kernel(km, kc)
        cls.service.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.service.stop()

    def answers(self, km, kc):
        try:
            _, outputs = run(kc, "40 + 2")
            self.assertEqual(result_text(outputs), "42")
        finally:
            stop_kernel(km, kc)

    def test_an_evaluator_from_an_older_library_is_never_handed_out(self):
        self.service.wait_ready()
        source = ROOT / "src" / "lib.rs"
        before = source.stat()
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 5_000_000_000))
        try:
            km, kc, log = self.service.start()
            self.answers(km, kc)
            text = log.read_text()
            self.assertIn("built from other library sources", text)
            self.assertNotIn("serving from a ready evaluator", text)
            # Its replacement is prepared while the sources are touched...
            self.service.wait_ready()
        finally:
            os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
        # ...so once they are back as they were, it is stale in turn.
        km, kc, log = self.service.start()
        self.answers(km, kc)
        self.assertIn("built from other library sources", log.read_text())
        self.service.wait_ready()

    def test_a_broken_evaluator_is_refused_and_the_kernel_starts_anyway(self):
        evaluator = self.service.wait_ready()
        for p in descendants(evaluator):
            os.kill(p, signal.SIGKILL)
        km, kc, log = self.service.start()
        # Without an evaluator the launcher became the kernel binary.
        self.assertEqual(Path(f"/proc/{km.provisioner.process.pid}/exe").resolve(), KERNEL.resolve())
        self.answers(km, kc)
        self.assertIn("the evaluator refused", log.read_text())

    def test_a_service_killed_mid_handover(self):
        self.service.wait_ready()
        service = self.service.status()["pid"]
        evaluator = self.service.wait_ready()
        os.kill(service, signal.SIGSTOP)
        log = self.service.logs / "mid-handover.log"
        km = KernelManager(kernel_name="deepscope")
        with open(log, "w") as f:
            km.start_kernel(env=self.service.env, stderr=f)
        time.sleep(1.0)  # the kernel has asked, the service cannot answer
        os.kill(service, signal.SIGKILL)
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        self.answers(km, kc)
        self.assertIn("starting without a ready evaluator", log.read_text())
        deadline = time.time() + 15
        while time.time() < deadline and alive(evaluator):
            time.sleep(0.2)
        self.assertFalse(alive(evaluator), "a ready evaluator outlived its service")
        # The next kernel answers too, and a new service comes up.
        km, kc, _ = self.service.start()
        self.answers(km, kc)
        self.service.wait_ready()

    def test_two_hundred_requests_of_every_kind(self):
        self.service.wait_ready()
        state = self.service.status()
        pid, path = state["pid"], state["socket"]
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        bodies = [b"", b"garbage\n", b'{"status": true}\n', b'{"take": {"identity": 3}}\n',
                  b'{"unknown": 1}\n', b'{"take"', b"\xff\xfe\n"]
        for i in range(200):
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.sendall(bodies[i % len(bodies)])
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            try:
                s.recv(4096)
            except OSError:
                pass
            s.close()
        self.assertEqual(self.service.status()["pid"], pid, "the service survived")
        self.assertEqual(len(os.listdir(f"/proc/{pid}/fd")), fds, "no descriptor leaked")
        km, kc, log = self.service.start()
        self.answers(km, kc)
        self.assertIn("serving from a ready evaluator", log.read_text())


class Doctor(unittest.TestCase):
    def test_doctor_names_the_launcher_and_the_service(self):
        out = subprocess.run([str(KERNEL), "doctor"], capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = dict(l.split(":", 1) for l in out.stdout.splitlines() if ":" in l)
        self.assertEqual(lines["launcher"].strip(), str(LAUNCHER))
        self.assertIn("ready service", lines)


if __name__ == "__main__":
    unittest.main()
