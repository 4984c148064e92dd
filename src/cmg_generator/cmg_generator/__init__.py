"""cmg_generator."""
