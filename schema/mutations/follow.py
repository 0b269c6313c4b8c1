"""followUser, unfollowUser, followAuthor, unfollowAuthor: idempotent follow edges."""

import strawberry

from schema.context import Info, require_viewer
from schema.payload_figures import computed
from schema.types.author import Author
from schema.types.user import User
from service.errors import NotFound
from service.ids import from_global_id
from service.repositories import social


async def follow_user(info: Info, user_id: strawberry.ID) -> User:
    return await _user_edge(info, user_id, follow=True)


async def unfollow_user(info: Info, user_id: strawberry.ID) -> User:
    return await _user_edge(info, user_id, follow=False)


async def follow_author(info: Info, author_id: strawberry.ID) -> Author:
    return await _author_edge(info, author_id, follow=True)


async def unfollow_author(info: Info, author_id: strawberry.ID) -> Author:
    return await _author_edge(info, author_id, follow=False)


async def _user_edge(info: Info, user_id: strawberry.ID, *, follow: bool) -> User:
    viewer = await require_viewer(info)
    target = from_global_id(user_id, "User", "userId")
    services = info.context.services
    change = social.follow if follow else social.unfollow
    await change(services.store, services.publisher, viewer, "user", target)
    doc = await info.context.loaders.user.load(target)
    if doc is None:
        raise NotFound("no user has this id", field="userId")
    return computed(info, User.of(doc))


async def _author_edge(info: Info, author_id: strawberry.ID, *, follow: bool) -> Author:
    viewer = await require_viewer(info)
    target = from_global_id(author_id, "Author", "authorId")
    services = info.context.services
    change = social.follow if follow else social.unfollow
    await change(services.store, services.publisher, viewer, "author", target)
    doc = await info.context.loaders.author.load(target)
    if doc is None:
        raise NotFound("no author has this id", field="authorId")
    return computed(info, Author.of(doc))
