"""The access workflow over the store: calls, proposals, review, decisions, projects.

`policy` decides (pure); this package applies its decisions to the store and to Slurm
(through `provision`), and says what a caller may see. The REST handlers in
`service.routes.access` only parse, authorise and call in here.
"""
