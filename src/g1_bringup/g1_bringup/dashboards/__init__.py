"""Dashboards: the Foxglove WebSocket bridge, its layouts, scene and schemas, and MCAP tools."""
