"""How the control plane reaches the outside: cells over HTTP, catalog notifications over LISTEN."""
