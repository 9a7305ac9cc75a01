"""The shared memory core. Imports no framework and nothing optional."""

from .memory import MemoryCore

__all__ = ["MemoryCore"]
