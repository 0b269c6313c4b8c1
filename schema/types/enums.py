"""Enums of the contract: the service's own enums, under the contract's names (one home each:
the stored shelf values, the review orders the repository knows). `strawberry.enum` marks the
classes themselves, so resolvers receive and return the service's members."""

import strawberry

from service.documents import Shelf
from service.repositories.entries import ReviewOrder as ReviewSort

strawberry.enum(Shelf, name="Shelf")
strawberry.enum(ReviewSort, name="ReviewSort")

__all__ = ["ReviewSort", "Shelf"]
