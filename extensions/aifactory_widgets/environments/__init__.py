"""Software environments a researcher brings or builds: `RegisterKernel` registers a venv or
conda environment of theirs as a kernel; `BuildEnvironment` builds a new one in a Slurm job and
registers it. Both use the hub's own rules (`aifactory_hub.environments.register`, `.build`)."""
