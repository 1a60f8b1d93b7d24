"""The store: engine and session factory, migrations, models."""
from .db import Store, make_engine

__all__ = ["Store", "make_engine"]
