"""Use cases of the control plane. Only these open transactions on the catalog; each change is audited
in the transaction that makes it, and a refused request gets its own audit entry."""
