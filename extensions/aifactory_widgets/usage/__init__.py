"""Use against allocation: quota.py is the researcher's view of their projects burning their
hours; desk.py the staff's usage and billing desk (every project, charges, CSV, funder
report). Both read the store through the service, never slurmdbd."""
