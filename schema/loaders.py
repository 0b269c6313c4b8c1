"""Per-request DataLoaders: every lookup a page makes many times is one MongoDB command."""

from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from schema.dataloader import DataLoader
from service.mongo import Document, Store
from service.repositories import entries, social, users
from service.repositories.common import docs_by_ids
from service.repositories.figures import Figures, Part


def _by_id_loader(collection: AsyncCollection) -> DataLoader[ObjectId, Document | None]:
    async def load(ids: list[ObjectId]) -> Sequence[Document | None]:
        found = await docs_by_ids(collection, ids)
        return [found.get(i) for i in ids]

    return DataLoader(load)


# The viewer's loaders are made from the store and the viewer's id, not from bound methods of
# Loaders: a loader holding a method of the Loaders that holds it is a reference cycle, which
# kept each request's loaders and documents until a garbage collection.


def _viewer_loader[V](
    viewer_id: ObjectId | None,
    anonymous: V,
    lookup: Callable[[ObjectId, list[ObjectId]], Awaitable[Callable[[ObjectId], V]]],
) -> DataLoader[ObjectId, V]:
    """A loader of the viewer's relation to each id: `anonymous` for every id without a viewer,
    else what `lookup(viewer, ids)` says of each (one command per batch)."""

    async def load(ids: list[ObjectId]) -> Sequence[V]:
        if viewer_id is None:
            return [anonymous] * len(ids)
        value_of = await lookup(viewer_id, ids)
        return [value_of(i) for i in ids]

    return DataLoader(load)


def _viewer_entries_loader(
    store: Store, viewer_id: ObjectId | None
) -> DataLoader[ObjectId, Document | None]:
    async def lookup(
        viewer: ObjectId, book_ids: list[ObjectId]
    ) -> Callable[[ObjectId], Document | None]:
        return (await entries.entries_of_user_for_books(store, viewer, book_ids)).get

    return _viewer_loader(viewer_id, None, lookup)


def _viewer_liked_loader(store: Store, viewer_id: ObjectId | None) -> DataLoader[ObjectId, bool]:
    async def lookup(viewer: ObjectId, review_ids: list[ObjectId]) -> Callable[[ObjectId], bool]:
        return (await social.liked_review_ids(store, viewer, review_ids)).__contains__

    return _viewer_loader(viewer_id, False, lookup)


def _viewer_follows_loader(
    store: Store, viewer_id: ObjectId | None, kind: social.TargetKind
) -> DataLoader[ObjectId, bool]:
    async def lookup(viewer: ObjectId, target_ids: list[ObjectId]) -> Callable[[ObjectId], bool]:
        return (await social.followed_ids(store, viewer, kind, target_ids)).__contains__

    return _viewer_loader(viewer_id, False, lookup)


class Loaders:
    """Made for every request, used by few: each loader is made when first asked for."""

    def __init__(self, store: Store, viewer_id: ObjectId | None) -> None:
        self.store = store
        self.viewer_id = viewer_id
        self._computed: dict[tuple[str, Part], DataLoader[ObjectId, Figures]] = {}

    @cached_property
    def book(self) -> DataLoader[ObjectId, Document | None]:
        return _by_id_loader(self.store.books)

    @cached_property
    def author(self) -> DataLoader[ObjectId, Document | None]:
        return _by_id_loader(self.store.authors)

    @cached_property
    def user(self) -> DataLoader[ObjectId, Document | None]:
        return _by_id_loader(self.store.users)

    @cached_property
    def review(self) -> DataLoader[ObjectId, Document | None]:
        return _by_id_loader(self.store.reviews)

    @cached_property
    def comment(self) -> DataLoader[ObjectId, Document | None]:
        return _by_id_loader(self.store.comments)

    @cached_property
    def viewer_entry(self) -> DataLoader[ObjectId, Document | None]:
        return _viewer_entries_loader(self.store, self.viewer_id)

    @cached_property
    def viewer_liked(self) -> DataLoader[ObjectId, bool]:
        return _viewer_liked_loader(self.store, self.viewer_id)

    @cached_property
    def viewer_follows_user(self) -> DataLoader[ObjectId, bool]:
        return _viewer_follows_loader(self.store, self.viewer_id, "user")

    @cached_property
    def viewer_follows_author(self) -> DataLoader[ObjectId, bool]:
        return _viewer_follows_loader(self.store, self.viewer_id, "author")

    async def users_by_ids(self, ids: list[ObjectId]) -> dict[ObjectId, Document]:
        """Users whose ids a page knows all at once (a page of reviews' reviewers): one find,
        the command the user loader would have batched them into, without its future and
        task per key."""
        return await users.by_ids(self.store, ids)

    def computed_figures(self, payload: str, part: Part) -> DataLoader[ObjectId, Figures]:
        """Figures computed from the sources (schema.payload_figures) for the payload of the
        mutation field `payload`: one command per part for every document it asks for. Each
        mutation field has loaders of its own: the fields run one after the other, and a
        figure must be read after its own field's write."""
        key = (payload, part)
        loader = self._computed.get(key)
        if loader is None:
            store = self.store

            async def load(ids: list[ObjectId]) -> Sequence[Figures]:
                found = await part(store, ids)
                return [found[i] for i in ids]

            loader = self._computed[key] = DataLoader(load)
        return loader
