"""Demo data parsed from the seed book page."""
