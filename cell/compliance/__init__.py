"""Compliance: legal holds and retention (docs/compliance.md)."""
