"""Alembic environment: always run on a connection handed in by storage.migrate."""

from alembic import context

from storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `chatlink migrate`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite needs ALTER emulated by table copies
)
with context.begin_transaction():
    context.run_migrations()
