"""AI Factory Hub: JupyterHub on a Slurm supercomputer, run as an AI factory."""

__version__ = "0.1.0"
