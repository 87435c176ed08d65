"""The factory service's operations, one module per feature; each ends with `routes`, the list
of its route records (`service.base.Route`), and `service.app` collects them:

- `about`: the service itself (health, its OpenAPI description)
- `cluster`: the staff console's cluster snapshot and session stop
- `access`: calls, proposals, projects and the playground (docs/access-api.md)
- `site`: the centre's public facts; `jobs`: the partitions a session may launch jobs on
- `tickets`: ask an expert (docs/help-api.md)
- `usage`: usage, billing and the funder report (docs/usage-api.md)
- `workshops`: trainers' workshops and their participants (docs/workshops-api.md)
- `data`: the shared catalogue of datasets and models
"""
