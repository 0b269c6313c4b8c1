"""Mutation root: one module per mutation."""
