"""Motion data: one clip type at 50 Hz, importers/exporters, real G1 clips, procedural gaits."""
