#!/usr/bin/env python3
"""The environment build job's batch script: a venv, pip install, then the user's kernel.

`aifactory_hub.environments.build` submits this file, unchanged, with

    sbatch ... build_job.py FACTORY_PYTHON BASE_PYTHON PREFIX REQUIREMENTS MAX_GB IPYWIDGETS
                            NAME KERNELS_DIR keep|replace

The user's requirements reach it only as a file (REQUIREMENTS, written by the submitting code
after every line was checked), never as script text or an option. It runs on a compute node
as the user:

1. it runs again with FACTORY_PYTHON (the kernel's own interpreter: Slurm starts it with
   whatever `python3` the job's PATH finds first), which can import the hub's kernel writer;
2. `BASE_PYTHON -m venv PREFIX` (the factory's base interpreter, so the new environment has
   the same Python as the nodes' sessions);
3. `PREFIX/bin/python -m pip install -r REQUIREMENTS ipykernel ipywidgets==IPYWIDGETS`, pip's
   output streamed to the log (the job's --output), in its own process group;
4. the kernel `NAME` ("Python 3 (NAME)") written into KERNELS_DIR by
   `aifactory_hub.environments.register.write_kernel`.

Every few seconds it prints `build: PHASE, ELAPSED s, SIZE bytes` (the widget's progress) and
measures PREFIX: past MAX_GB it stops pip (the whole group) and says so. Slurm's --time bounds
the whole job; its SIGTERM (time limit, or the user's scancel) stops pip the same way. A build
that fails ends with `failed: REASON` (pip's own `ERROR:` line where it gave one) and removes
the half-built PREFIX; one that succeeds ends with `built: ...`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PHASES = ("venv", "download", "install", "kernel", "done", "failed")
MODES = ("keep", "replace")
EVERY_S = 3.0  # a progress line (and a size check) this often
KILL_GRACE_S = 10.0
USAGE = (
    "usage: build_job.py FACTORY_PYTHON BASE_PYTHON PREFIX REQUIREMENTS MAX_GB IPYWIDGETS "
    "NAME KERNELS_DIR keep|replace"
)


def progress_line(phase: str, elapsed_s: float, size: int) -> str:
    """The progress line `build.parse_progress` reads."""
    return f"build: {phase}, {int(elapsed_s)} s, {size} bytes"


def disk_usage(path: str) -> int:
    """Bytes `path` takes on disk (files that vanish while counting are skipped)."""
    total = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def pip_argv(prefix: str, requirements: str, ipywidgets: str) -> list[str]:
    """pip, run by the new environment's own python: the user's file, then what a kernel
    needs (ipywidgets at the factory's version, so the widgets render in JupyterLab)."""
    return [
        f"{prefix}/bin/python", "-m", "pip", "install", "--no-input",
        "--disable-pip-version-check", "--progress-bar", "off",
        "-r", requirements, "ipykernel", f"ipywidgets=={ipywidgets}",
    ]  # fmt: skip


def size_text(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"


class Build:
    """One build: prints to stdout (the job's log), watches the prefix, stops on a signal."""

    def __init__(self, prefix: str, max_bytes: int, out=sys.stdout):
        self.prefix = prefix
        self.max_bytes = max_bytes
        self.out = out
        self.started = time.monotonic()
        self.phase = "venv"
        self.stopped = ""  # why Slurm stopped the job (a signal), once it did
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def say(self, line: str) -> None:
        with self._lock:
            print(line, file=self.out, flush=True)

    def progress(self, size: int | None = None) -> int:
        size = disk_usage(self.prefix) if size is None else size
        self.say(progress_line(self.phase, time.monotonic() - self.started, size))
        return size

    def over_limit(self, size: int) -> str:
        """Why the build stops at this size ('' within the limit)."""
        if size <= self.max_bytes:
            return ""
        return (
            f"the environment reached {size_text(size)}, over the site's limit of "
            f"{size_text(self.max_bytes)}: the build was stopped"
        )

    def on_signal(self, signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        self.stopped = f"the job was stopped ({name}): it reached its time limit or was cancelled"

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            if line.startswith("ERROR:"):
                self.errors.append(line)
            elif line.startswith("Installing collected packages"):
                self.phase = "install"
            self.say(line)

    def run(self, argv: list[str]) -> str:
        """Run one step (argv, own process group), output into the log; '' if it succeeded,
        else why not."""
        try:
            proc = subprocess.Popen(  # argv built here, no shell; streamed, so not slurm.run
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except OSError as exc:
            return f"cannot run {argv[0]}: {exc.strerror}"
        reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        reader.start()
        why, last = "", time.monotonic()
        while proc.poll() is None:
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            if self.stopped:
                why = self.stopped
            elif time.monotonic() - last >= EVERY_S:
                last = time.monotonic()
                why = self.over_limit(self.progress())
            if why and proc.poll() is None:
                self.kill(proc)
        reader.join(timeout=5)
        if why:
            return why
        if proc.returncode != 0:
            return self.errors[-1] if self.errors else f"{argv[0]} ended with {proc.returncode}"
        return ""

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=KILL_GRACE_S)
                return
            except subprocess.TimeoutExpired:
                continue


def register_kernel(prefix: str, name: str, kernels_dir: str) -> Path:
    """The built environment's kernel, through the hub's own writer (imported here: only the
    factory's interpreter, after step 1, has it)."""
    from aifactory_hub.environments import register

    python = f"{prefix}/bin/python"
    register.check_ipykernel(python)
    label = f"Python 3 ({name})"
    return register.write_kernel(python, name, label, Path(kernels_dir), replace=True)


def build(argv: list[str], out=sys.stdout) -> int:
    """Steps 2 to 4 (see the module); 0 when the kernel is registered. Slurm's SIGTERM (and
    an interrupt) stop the build while it runs."""
    job = Build(argv[3], int(float(argv[5]) * 1e9), out)
    caught = (signal.SIGTERM, signal.SIGINT)
    before = {sig: signal.signal(sig, job.on_signal) for sig in caught}
    try:
        return _build(job, argv)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _build(job: Build, argv: list[str]) -> int:
    _, _, base, prefix, requirements, max_gb, widgets, name, kernels, mode = argv
    job.say(f"building {name} in {prefix} on {os.uname().nodename} (at most {max_gb} GB)")
    if os.path.lexists(prefix):
        if mode == "replace":
            shutil.rmtree(prefix)
            job.say(f"removed the previous environment {prefix}")
        else:
            job.say(f"ERROR: {prefix} already exists")
            job.phase = "failed"
            job.progress(0)
            job.say(f"failed: {prefix} already exists")
            return 1
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    job.progress(0)
    why = job.run([base, "-m", "venv", prefix])
    if not why:
        job.phase = "download"
        job.progress()
        why = job.run(pip_argv(prefix, requirements, widgets))
    if not why and not job.stopped:
        job.phase = "kernel"
        size = job.progress()  # pip may finish between two looks: the limit holds at the end
        why = job.over_limit(size)
    if not why and not job.stopped:
        try:
            spec = register_kernel(prefix, name, kernels)
        except (OSError, ValueError) as exc:
            why = f"could not register the kernel: {exc}"
        else:
            job.phase = "done"
            job.progress(size)
            job.say(
                f'built: {prefix} ({size_text(size)}); kernel "Python 3 ({name})" registered '
                f"as {name} ({spec})"
            )
            return 0
    why = why or job.stopped
    job.phase = "failed"
    job.progress(disk_usage(prefix))
    shutil.rmtree(prefix, ignore_errors=True)
    job.say(f"failed: {why}")
    job.say(f"removed the unfinished environment {prefix}")
    return 1


def main(argv: list[str]) -> int:
    paths = [*argv[1:5], *argv[8:9]]
    if len(argv) != 10 or argv[9] not in MODES or not all(a.startswith("/") for a in paths):
        print(USAGE, file=sys.stderr)
        return 2
    factory = argv[1]
    if sys.executable != factory:
        sys.stdout.flush()
        # Step 1: the kernel's interpreter, which has the hub installed (argv, no shell).
        os.execv(factory, [factory, os.path.abspath(__file__), *argv[1:]])  # noqa: S606
    try:
        if float(argv[5]) <= 0:
            raise ValueError(argv[5])
    except ValueError:
        print(USAGE, file=sys.stderr)
        return 2
    return build(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
