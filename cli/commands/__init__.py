"""``cellctl`` command groups that talk to the control plane."""
