"""g1_bringup."""
