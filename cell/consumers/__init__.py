"""Outbox consumers: named readers of the cell's change log, hosted by the worker (docs/outbox.md)."""
