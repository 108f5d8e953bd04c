"""The queue on PostgreSQL (`queue_url: postgresql://...`): connection, migrations, queue, journal."""
