"""Shared ground every stage stands on: settings, the database, errors and the audit chain."""
