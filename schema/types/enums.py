"""Enums of the contract, valued as stored."""

from enum import Enum

import strawberry


@strawberry.enum(name="Shelf")
class Shelf(Enum):
    WANT_TO_READ = "WANT_TO_READ"
    CURRENTLY_READING = "CURRENTLY_READING"
    READ = "READ"


@strawberry.enum(name="ReviewSort")
class ReviewSort(Enum):
    POPULAR = "POPULAR"
    NEWEST = "NEWEST"
    OLDEST = "OLDEST"
