"""twist_training."""
