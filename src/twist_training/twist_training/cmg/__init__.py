"""CMG training, evaluation and export (no rclpy)."""
