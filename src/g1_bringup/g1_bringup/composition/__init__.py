"""Several nodes of the stack in one process (``node_container``), with in-process hand-over."""
