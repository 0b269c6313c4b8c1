"""signUp: a new reader account and its first token."""

import strawberry

from schema.context import Info
from schema.mutations.payload import AuthPayload
from service import validation
from service.repositories import users


@strawberry.input(name="SignUpInput")
class SignUpInput:
    username: str
    password: str
    display_name: str | None = None


async def sign_up(info: Info, input: SignUpInput) -> AuthPayload:
    username = validation.username(input.username, "input.username")
    password = validation.password(input.password, "input.password")
    display = validation.display_name(input.display_name, username, "input.displayName")
    services = info.context.services
    doc = await users.sign_up(services.store, services.passwords, username, password, display)
    return AuthPayload.of(info, dict(doc))
