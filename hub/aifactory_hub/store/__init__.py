"""The factory store: calls, proposals, reviews, projects, allocations, members, the
provisioning record and the audit log.

`models` declares the tables, `db` makes engines and sessions and runs the Alembic
migrations in `migrations/`, `postgres` runs a local PostgreSQL server for sites (and tests)
that want one. SQLite is the default; a PostgreSQL URL selects PostgreSQL, same code.
"""
