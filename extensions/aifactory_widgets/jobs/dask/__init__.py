"""One-click Dask on Slurm: cluster.py (dask-jobqueue's SLURMCluster with the factory's
defaults, the private dashboard and the guards against orphan workers), launcher.py (the
widget) and reaper.py (the process that cancels the workers once the kernel is gone).
Only launcher.py's users import dask: nothing else in the widgets does."""
