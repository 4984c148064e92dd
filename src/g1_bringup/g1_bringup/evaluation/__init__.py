"""Evaluation of walking controllers: the shared protocol (commands, metrics) and the direct loop."""
