"""A one-node Slurm started for a test and stopped after it.

munged (as the munge user, with a key made for the occasion), slurmctld and
slurmd (as root, in the foreground) run from a temporary folder on free
ports, so nothing of the machine's own configuration is read or changed.
Clients reach it through SLURM_CONF, which `env()` sets.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

NODE = "deepscope-node"
BINARIES = ["munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def skip_reason():
    """Why a local Slurm cannot start here, or None."""
    missing = [b for b in BINARIES if shutil.which(b) is None and not os.path.exists(f"/usr/sbin/{b}")]
    if missing:
        return f"Slurm and munge are not installed (missing {', '.join(missing)}): run make setup as root, or apt-get install slurmctld slurmd slurm-client munge"
    if os.geteuid() != 0:
        return "a local Slurm needs root (munged runs as the munge user, slurmd launches the jobs)"
    return None


def which(name):
    return shutil.which(name) or f"/usr/sbin/{name}"


class LocalSlurm:
    """`with LocalSlurm() as slurm:` a cluster of one node with every CPU."""

    def __enter__(self):
        reason = skip_reason()
        if reason:
            raise unittest.SkipTest(reason)
        self.dir = tempfile.mkdtemp(prefix="deepscope-slurm-")
        self.procs = []
        self.files = []
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def env(self):
        """The environment for sbatch, squeue and the rest."""
        env = dict(os.environ)
        env["SLURM_CONF"] = self.path("slurm.conf")
        return env

    def _start(self):
        munge = self.path("munge")
        os.makedirs(munge)
        for d in ("state", "spool"):
            os.makedirs(self.path(d))
        os.chmod(self.dir, 0o755)
        key = os.path.join(munge, "munge.key")
        subprocess.run([which("mungekey"), "--create", f"--keyfile={key}"], check=True)
        shutil.chown(munge, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        os.chmod(munge, 0o700)
        os.chmod(key, 0o600)
        self.socket = os.path.join(munge, "munge.sock")
        subprocess.run(
            ["runuser", "-u", "munge", "--", which("munged"), "--force",
             f"--socket={self.socket}", f"--key-file={key}",
             f"--pid-file={munge}/munged.pid", f"--log-file={munge}/munged.log",
             f"--seed-file={munge}/munged.seed"],
            check=True,
        )
        host = socket.gethostname().split(".")[0]
        ctld, slurmd = free_port(), free_port()
        conf = f"""\
ClusterName=deepscope-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld}
SlurmdPort={slurmd}
AuthType=auth/munge
AuthInfo=socket={self.socket}
CredType=cred/munge
StateSaveLocation={self.path("state")}
SlurmdSpoolDir={self.path("spool")}
SlurmctldPidFile={self.path("slurmctld.pid")}
SlurmdPidFile={self.path("slurmd.pid")}
SlurmctldLogFile={self.path("slurmctld.log")}
SlurmdLogFile={self.path("slurmd.log")}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
# Dependencies are checked on the scheduler's periodic pass (60 s by default).
SchedulerParameters=sched_interval=1,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={NODE} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
        with open(self.path("slurm.conf"), "w") as f:
            f.write(conf)
        env = self.env()
        for argv in ([which("slurmctld"), "-D", "-i"], [which("slurmd"), "-D", "-N", NODE]):
            log = open(self.path(os.path.basename(argv[0]) + ".stderr"), "w")
            self.files.append(log)
            self.procs.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            if r.returncode == 0 and r.stdout.strip() == "idle":
                return
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[0]} exited ({p.returncode}): {self.logs()}")
            time.sleep(0.2)
        raise RuntimeError(f"the local Slurm did not come up in 60 s: {self.logs()}")

    def logs(self):
        out = []
        for name in ("slurmctld.log", "slurmd.log", "slurmctld.stderr", "slurmd.stderr", "munge/munged.log"):
            try:
                with open(self.path(name)) as f:
                    out.append(f"--- {name}\n" + f.read()[-3000:])
            except OSError:
                pass
        return "\n".join(out)

    def run(self, *argv, check=True):
        return subprocess.run(list(argv), env=self.env(), capture_output=True, text=True, check=check)

    def wait_idle(self, timeout=300):
        """Waits until no job is pending or running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.run("squeue", "-h", "-o", "%i").stdout.strip():
                return
            time.sleep(0.3)
        raise AssertionError(f"jobs still queued after {timeout} s:\n" + self.run("squeue").stdout)

    def _kill_strays(self):
        """Kills what outlived slurmd: a job step (slurmstepd) whose task was
        killed can linger once slurmd is gone. Only this cluster's, known by
        the SLURM_CONF in its environment."""
        conf = f"SLURM_CONF={self.path('slurm.conf')}".encode()
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if conf in f.read().split(b"\0"):
                        os.kill(int(pid), 9)
            except OSError:
                pass

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for f in self.files:
            f.close()
        self._kill_strays()
        pid_file = self.path("munge", "munged.pid")
        if os.path.exists(pid_file):
            with open(pid_file) as f:
                pid = int(f.read().strip() or 0)
            if pid:
                try:
                    os.kill(pid, 15)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)
        return False
