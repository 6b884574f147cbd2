"""The global router: ``workspace -> cell`` from an in-memory routing table, and HTTP proxying to the cell."""
