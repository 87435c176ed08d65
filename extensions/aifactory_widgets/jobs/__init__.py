"""The researcher's own work on the cluster, launched from a notebook and run as them.

commands.py is the one place the widgets run Slurm commands (sbatch, squeue, sacct, scancel,
scontrol; argv, no shell, a clean environment); limits.py and placement.py are the partitions,
limits and the project/partition pickers the launchers share; scripts.py renders batch scripts
with pure functions; launcher.py is the review-then-submit form that training.py (multi-node
training) and sweep.py (a job array over sweep_grid.py's grid) build on; status.py parses
squeue and sacct for monitor.py (the job monitor); follow.py follows the one job a form
submitted (the data room's copy, an environment build); dask/ is the one-click Dask cluster.
"""
