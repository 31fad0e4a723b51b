"""Database plumbing: the schema (models), engines and transactions (engine), migrations."""
