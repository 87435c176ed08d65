"""The staff console: Voila dashboards behind hub login and RBAC scopes."""
