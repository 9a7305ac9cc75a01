"""The core's tests run on both record-store engines (see ``engine_matrix``)."""

from engine_matrix import record_engine

__all__ = ["record_engine"]
