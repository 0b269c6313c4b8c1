"""The Node interface and the page-info type shared by every connection."""

import strawberry


@strawberry.interface(name="Node")
class Node:
    id: strawberry.ID


@strawberry.type(name="PageInfo")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None
