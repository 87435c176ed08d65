# The project's own hub, for benchmarks/lab_start.py: the same spawner, site and options, with
# one switch. When the harness has written the file named by AIFACTORY_BENCH_NOLAB_FLAG, the
# next session gets JUPYTER_CONFIG_PATH pointing at a folder whose Jupyter config disables
# the factory's JupyterLab extension (the lab part and the server part) and nothing else.
# Both sides therefore run the same JupyterLab from the same venv, as the same user, with the
# same request; only the extension is on or off.
import os
from pathlib import Path

from aifactory_hub.hubside.config import configure

configure(c)  # noqa: F821

FLAG = Path(os.environ["AIFACTORY_BENCH_NOLAB_FLAG"])
NOLAB_DIR = os.environ["AIFACTORY_BENCH_NOLAB_DIR"]


def _config_path(spawner) -> str:
    return NOLAB_DIR if FLAG.exists() else ""


c.FactorySpawner.environment = {  # noqa: F821
    **c.FactorySpawner.environment,  # noqa: F821
    "JUPYTER_CONFIG_PATH": _config_path,
}
