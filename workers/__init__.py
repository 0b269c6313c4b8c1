"""The aggregation side: recomputation of figures, the stream worker and the reconciler."""
