"""Moving a live workspace between cells with PostgreSQL logical replication."""
