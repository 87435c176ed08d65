"""Environments in a notebook: register one of yours as a kernel, or build one in a job."""
