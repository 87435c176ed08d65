# The baseline: stock batchspawner.SlurmSpawner on the same hub, proxy, login and Slurm as
# the project's spawner, for benchmarks/spawners.py. Only what the stock spawner needs to run
# here is set; its polling, command execution and API handler are left as shipped.
import batchspawner
from batchspawner.api import BatchSpawnerAPIHandler
from jupyterhub import apihandlers
from traitlets import Unicode

from aifactory_hub.hubside.config import configure

configure(c)  # noqa: F821 - same ports, state, proxy and authenticator as the project's hub

# configure() installed the project's port handler: put the stock one back.
apihandlers.default_handlers[:] = [
    h for h in apihandlers.default_handlers if h[0] != r"/api/batchspawner"
] + [(r"/api/batchspawner", BatchSpawnerAPIHandler)]


class StockSlurmSpawner(batchspawner.SlurmSpawner):
    # The one change: this workplace binds every server to 127.0.0.1 (stock resets to 0.0.0.0).
    ip = Unicode("127.0.0.1")


c.JupyterHub.spawner_class = StockSlurmSpawner  # noqa: F821
s = c.StockSlurmSpawner  # noqa: F821
s.req_partition = "cpu"
s.req_nprocs = "1"
s.req_memory = "1G"
s.req_runtime = "02:00:00"
s.req_options = "--account=bench"
s.req_prologue = "export PATH=/opt/aifactory/venv/bin:$PATH"
s.state_exechost_exp = "127.0.0.1"
s.start_timeout = 300
s.http_timeout = 120
s.poll_interval = c.FactorySpawner.poll_interval  # noqa: F821 - same interval for both
s.default_url = "/lab"
# Stock runs the wrapper through `srun` in a job step, whose PATH lookup does not see the
# prologue's PATH here: name the environment's programs by full path (a stock setting).
s.batchspawner_singleuser_cmd = "/opt/aifactory/venv/bin/batchspawner-singleuser"
s.cmd = ["/opt/aifactory/venv/bin/jupyterhub-singleuser"]
