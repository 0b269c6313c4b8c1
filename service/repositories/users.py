"""Users: sign-up, log-in and lookups."""

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from service import auth, validation
from service.documents import UserDoc
from service.errors import BadUserInput, NotFound, Unauthenticated
from service.mongo import Document, Store
from service.repositories.common import docs_by_ids, now

# Who a review or comment shows when its user is gone (deleted outside the API, or lost in a
# restored database): one missing reviewer must not fail a book page for everyone. A stable id
# (clients' caches merge every deleted reader into one object, whose figures are all zero) and
# a username that the username rule refuses, so that no one can sign up as it.
DELETED_READER_ID = ObjectId("0" * 24)
DELETED_READER_NAME = "deleted reader"


def deleted_reader() -> Document:
    """The placeholder user's document (a new one each time: objects may overlay figures)."""
    return {"_id": DELETED_READER_ID, "username": "[deleted]", "display_name": DELETED_READER_NAME}


# Verifying against a real hash when the user does not exist keeps log-in time uniform.
_DUMMY_HASH = auth.hash_password("not-a-real-password")


def new_user(username: str, display_name: str, password_hash: str | None) -> UserDoc:
    return {
        "_id": ObjectId(),
        "username": username,
        "username_key": username.lower(),
        "display_name": display_name,
        "display_key": validation.name_key(display_name),
        "password_hash": password_hash,
        "avatar_url": None,
        "bio": None,
        "authored_books_count": 0,
        "created_at": now(),
        "reviews_count": 0,
        "followers_count": 0,
        "following_count": 0,
    }


async def sign_up(
    store: Store, passwords: auth.PasswordHashing, username: str, password: str, display_name: str
) -> UserDoc:
    await _require_own_name(store, username, display_name)
    user = new_user(username, display_name, await passwords.hash(password))
    try:
        await store.users.insert_one(user)
    except DuplicateKeyError:
        raise BadUserInput(
            "input.username: this username is taken", field="input.username"
        ) from None
    return user


async def _require_own_name(store: Store, username: str, display_name: str) -> None:
    """A display name may not be another reader's username or display name (compared by
    validation.name_key), nor the deleted reader's: a page would show one reader as another.
    Checked before the insert, so two simultaneous sign-ups may still pick one name; the
    username itself is unique by index."""
    key = validation.name_key(display_name)
    if key == validation.name_key(DELETED_READER_NAME):
        taken = True
    else:
        other = await store.users.find_one(
            {"$or": [{"username_key": key}, {"display_key": key}]}, {"username_key": 1}
        )
        # The new username itself, taken: the insert reports it as such.
        taken = other is not None and other.get("username_key") != username.lower()
    if taken:
        raise BadUserInput(
            "input.displayName: another reader goes by this name; choose another display name",
            field="input.displayName",
        )


async def log_in(
    store: Store, passwords: auth.PasswordHashing, username: str, password: str
) -> Document:
    user = await store.users.find_one({"username_key": username.lower()})
    stored_hash = user.get("password_hash") if user else None
    if (
        not await passwords.verify(stored_hash or _DUMMY_HASH, password)
        or not user
        or not stored_hash
    ):
        raise Unauthenticated("invalid username or password")
    return user


async def by_ids(store: Store, user_ids: list[ObjectId]) -> dict[ObjectId, Document]:
    """Many users in one command, by id (missing ones are absent)."""
    return await docs_by_ids(store.users, user_ids)


async def by_username(store: Store, username: str) -> Document | None:
    return await store.users.find_one({"username_key": username.lower()})


async def require(store: Store, user_id: ObjectId, field: str = "userId") -> Document:
    user = await store.users.find_one({"_id": user_id}, {"_id": 1})
    if user is None:
        raise NotFound("no user has this id", field=field)
    return user
