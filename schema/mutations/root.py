"""The Mutation type, assembled from the one-module-per-mutation resolvers."""

import strawberry

from schema.mutations.add_comment import add_comment
from schema.mutations.clear_rating import clear_rating
from schema.mutations.delete_comment import delete_comment
from schema.mutations.delete_review import delete_review
from schema.mutations.follow import follow_author, follow_user, unfollow_author, unfollow_user
from schema.mutations.like_review import like_review, unlike_review
from schema.mutations.log_in import log_in
from schema.mutations.rate_book import rate_book
from schema.mutations.set_shelf import set_shelf
from schema.mutations.sign_up import sign_up
from schema.mutations.write_review import write_review


@strawberry.type(name="Mutation")
class Mutation:
    sign_up = strawberry.mutation(resolver=sign_up)
    log_in = strawberry.mutation(resolver=log_in)
    rate_book = strawberry.mutation(resolver=rate_book)
    clear_rating = strawberry.mutation(resolver=clear_rating)
    set_shelf = strawberry.mutation(resolver=set_shelf)
    write_review = strawberry.mutation(resolver=write_review)
    delete_review = strawberry.mutation(resolver=delete_review)
    like_review = strawberry.mutation(resolver=like_review)
    unlike_review = strawberry.mutation(resolver=unlike_review)
    add_comment = strawberry.mutation(resolver=add_comment)
    delete_comment = strawberry.mutation(resolver=delete_comment)
    follow_user = strawberry.mutation(resolver=follow_user)
    unfollow_user = strawberry.mutation(resolver=unfollow_user)
    follow_author = strawberry.mutation(resolver=follow_author)
    unfollow_author = strawberry.mutation(resolver=unfollow_author)
