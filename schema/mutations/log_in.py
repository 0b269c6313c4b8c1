"""logIn: a token for a username and password."""

from schema.context import Info
from schema.mutations.payload import AuthPayload
from service import validation
from service.errors import Unauthenticated
from service.repositories import users


async def log_in(info: Info, username: str, password: str) -> AuthPayload:
    if len(username) > 100 or len(password) > validation.PASSWORD_MAX:
        raise Unauthenticated("invalid username or password")
    services = info.context.services
    doc = await users.log_in(services.store, services.passwords, username, password)
    return AuthPayload.of(info, doc)
