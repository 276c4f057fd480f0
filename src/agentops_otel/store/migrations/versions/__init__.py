"""Revisions, oldest first (Alembic reads the files by path; this file only makes the folder a package)."""
