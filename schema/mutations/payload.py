"""AuthPayload, returned by signUp and logIn."""

import strawberry

from schema.context import Info
from schema.payload_figures import computed
from schema.types.user import User
from service import auth
from service.mongo import Document


@strawberry.type(name="AuthPayload")
class AuthPayload:
    token: str
    user: User

    @classmethod
    def of(cls, info: Info, user_doc: Document) -> "AuthPayload":
        services = info.context.services
        token = auth.issue_token(
            user_doc["_id"], services.jwt_secret, services.settings.jwt_ttl_seconds
        )
        return cls(token=token, user=computed(info, User.of(user_doc)))
