"""Shared utilities: config loading, logging, distributed helpers, seeding, checkpoint I/O."""
