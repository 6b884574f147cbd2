"""The control plane's pure rules: placement, the audit hash chain, inventory reconciliation, roles."""
