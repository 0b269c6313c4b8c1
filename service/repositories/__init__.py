"""Reads and writes of each collection. The schema layer calls these; it never builds Mongo
queries itself."""
