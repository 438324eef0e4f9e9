"""Adapters that tell people things (staff alerts; customer notices later)."""
