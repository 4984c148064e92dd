"""Batched physics backends behind one interface (:mod:`.base`): MuJoCo CPU (tested), MJX (GPU,
unverified), Isaac Gym (adapter, untested)."""

from .base import BatchState, PhysicsBackend, PhysicsParams, make_backend

__all__ = ["BatchState", "PhysicsBackend", "PhysicsParams", "make_backend"]
