# JupyterHub configuration for AI Factory Hub: everything comes from the site file.
# Run as: jupyterhub -f <this file>   (the site file is $AIFACTORY_SITE, default the local demo)
from aifactory_hub.hubside.config import configure

configure(c)  # noqa: F821 - `c` is provided by JupyterHub
