"""The schema object: Query, Mutation (and Subscription), with error classification."""

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from schema.errors import classify
from schema.mutations.root import Mutation
from schema.query import Query
from schema.subscription import Subscription
from schema.types.author import Author
from schema.types.book import Book
from schema.types.comment import Comment
from schema.types.review import Review
from schema.types.user import User


class BookSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context: Any = execution_context.context if execution_context else None
        request_id = getattr(context, "request_id", "-")
        for error in errors:
            classify(error, request_id)


def build_schema() -> BookSchema:
    return BookSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Book, Author, User, Review, Comment],
    )
