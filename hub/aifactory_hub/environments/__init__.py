"""Software environments: which Python a session's kernels run, and the user's own ones.

- `kernels`: Jupyter kernel specifications, written as JSON (never through a shell): the
  site environments' (by `aifactory up`) and a user's (registered or built).
- `session`: the lines of a session's batch script that load an environment (modules,
  variables, kernel folders), from site data only.
"""
