"""Input and output: embedding readers, atomic file writes, ``extract()`` and the shared
forward-hook capture."""
