"""twist_controller."""
