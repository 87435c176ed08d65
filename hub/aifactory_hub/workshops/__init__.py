"""Workshops: one form makes a Slurm reservation, a project, temporary accounts and
materials; a room view follows the participants; ending tears it all down."""
