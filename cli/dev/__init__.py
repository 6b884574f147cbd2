"""``cellctl dev``: the local deployment."""
