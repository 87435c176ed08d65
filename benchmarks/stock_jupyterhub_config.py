# The baseline: stock batchspawner.SlurmSpawner on the same hub, proxy, login, services and
# Slurm as the project's spawner, for benchmarks/spawners.py. Set here: what the stock
# spawner needs to run here, and what the benchmark makes the same on both sides (start-up
# cadence, the server exec'd by the batch script, no requeue); its Slurm cadence and whether
# it keeps batchspawner's `srun` line come from the harness (AIFACTORY_BENCH_*).
import os

import batchspawner
from batchspawner.api import BatchSpawnerAPIHandler
from jupyterhub import apihandlers
from traitlets import Unicode

from aifactory_hub.hubside.config import configure

configure(c)  # noqa: F821 - same ports, state, proxy, services and login as the project's hub

# configure() installed the project's port handler: put the stock one back.
apihandlers.default_handlers[:] = [
    h for h in apihandlers.default_handlers if h[0] != r"/api/batchspawner"
] + [(r"/api/batchspawner", BatchSpawnerAPIHandler)]

SHIPPED_EXEC = (
    '{% if srun %}{{srun}} {% endif %}{{cmd}}\necho "jupyterhub-singleuser ended gracefully"\n'
)


class StockSlurmSpawner(batchspawner.SlurmSpawner):
    # This workplace binds every server to 127.0.0.1 (stock resets to 0.0.0.0).
    ip = Unicode("127.0.0.1")


c.JupyterHub.spawner_class = StockSlurmSpawner  # noqa: F821
s = c.StockSlurmSpawner  # noqa: F821
s.req_partition = "cpu"
s.req_nprocs = "1"
s.req_memory = "1G"
s.req_runtime = "02:00:00"
# --no-requeue as the factory's jobs: Slurm here requeues by default (JobRequeue=1), and a
# session on a failed node must end, not come back behind the hub.
s.req_options = "--account=bench --no-requeue"
s.req_prologue = "export PATH=/opt/aifactory/venv/bin:$PATH"
s.state_exechost_exp = "127.0.0.1"
s.start_timeout = 300
s.http_timeout = 120
s.default_url = "/lab"
# Programs by full path: a `srun` job step's PATH lookup does not see the prologue's PATH.
s.batchspawner_singleuser_cmd = "/opt/aifactory/venv/bin/batchspawner-singleuser"
s.cmd = ["/opt/aifactory/venv/bin/jupyterhub-singleuser"]

# Cadences: how often a running session's job is asked about (JupyterHub's periodic poll,
# one squeue per session) and how often while it starts (the factory's is 1 s, stock's 0.5 s).
s.poll_interval = float(os.environ.get("AIFACTORY_BENCH_POLL_S", c.FactorySpawner.poll_interval))  # noqa: F821
s.startup_poll_interval = float(os.environ.get("AIFACTORY_BENCH_STARTUP_POLL_S", "1.0"))
if os.environ.get("AIFACTORY_BENCH_SRUN", "0") != "1":
    # The factory's script execs the server itself; stock's runs it in an `srun` job step
    # (a step launch and its RPCs). Same script otherwise.
    shipped = batchspawner.SlurmSpawner.batch_script.default_value
    assert SHIPPED_EXEC in shipped, "batchspawner's script changed: review this benchmark"
    s.batch_script = shipped.replace(SHIPPED_EXEC, "exec {{cmd}}\n")
