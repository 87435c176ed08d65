"""The staff's cluster view (view.py): partitions, the Slurm queue and the hub's sessions, from
one snapshot of the factory service per refresh."""
