"""Synthetic built-in sources: 2-D toy sets and procedural shapes."""
