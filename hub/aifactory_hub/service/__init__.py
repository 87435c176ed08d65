"""The factory service: a JupyterHub-managed REST service that owns the factory's data.

Every request carries a hub token; JupyterHub's RBAC scopes (custom ones where the hub's own
are not enough) decide what it may do. See `site/scopes.py` for the project's scopes and roles.
The hub process reads the store in one place, hubside/store_view.py, in a worker thread.

- `base`: the framework: the `Route` record (one per operation), the `Handler` every
  operation runs in (token, scopes, JSON bodies and errors) and the `Context` it is given.
- `openapi`: the OpenAPI description, built from the same route records as the routing.
- `routes/`: one module per feature, each ending with its list of route records.
- `app`: assembles the routes into the tornado application and builds the real context;
  `tasks`: the background work (accounting collector, workshop timer); `__main__` runs it.
- `hub_api`: the hub's REST API; `cluster`: the cluster monitor behind the staff console.
"""
