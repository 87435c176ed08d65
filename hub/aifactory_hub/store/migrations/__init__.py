"""Alembic migrations of the factory store (run by `aifactory_hub.store.db.migrate`)."""
