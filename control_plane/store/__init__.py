"""The catalog: PostgreSQL, SQL only here (named ``%(name)s`` parameters), numbered migrations."""
