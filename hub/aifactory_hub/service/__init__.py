"""The factory service: a JupyterHub-managed REST service that owns the factory's data.

Every request carries a hub token; JupyterHub's RBAC scopes (custom ones where the hub's own
are not enough) decide what it may do. See `scopes.py` for the project's scopes and roles.
"""
