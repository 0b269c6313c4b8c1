"""The event stream's contract (contract/events.asyncapi.yaml) as a checker of stream entries.

`CONTRACT.violation(fields)` names, for one entry as XADDed, the first way it departs from the
document: its type, the field or `data` member, and why; None when it matches. An entry with
`specversion` must match the message named by its `type` (headers: the entry's fields; payload:
the JSON object in `data`); one without, the legacy message. Members the document does not
declare are violations too, so that nothing the code emits goes undocumented (the published
schemas themselves let consumers ignore unknown members).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

CONTRACT_PATH = Path(__file__).resolve().parents[2] / "contract" / "events.asyncapi.yaml"
BASE_URI = "urn:bookservice:events"
LEGACY = "legacy"


@dataclass(frozen=True)
class MessageSchemas:
    key: str  # under components/messages
    headers: dict[str, Any]
    payload: dict[str, Any] | None


def _path(error: ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path)


class EventContract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT7)
        self.registry: Registry = Registry().with_resource(BASE_URI, resource)
        self.messages = {
            message["name"]: MessageSchemas(key, message["headers"], message.get("payload"))
            for key, message in document["components"]["messages"].items()
        }

    def validator(self, pointer: str) -> Draft7Validator:
        return Draft7Validator({"$ref": f"{BASE_URI}#{pointer}"}, registry=self.registry)

    def violation(self, fields: Mapping[str, Any]) -> str | None:
        kind = str(fields.get("type", "(no type)"))
        if not all(isinstance(v, str) for v in fields.values()):
            return f"{kind}: every field of a stream entry is a string"
        name = kind if "specversion" in fields else LEGACY
        message = self.messages.get(name)
        if message is None:
            return f"{kind}: no message of this type in {CONTRACT_PATH.name}"
        base = f"/components/messages/{message.key}"
        error = best_match(self.validator(f"{base}/headers").iter_errors(dict(fields)))
        if error is not None:
            where = f"field {_path(error)}" if error.absolute_path else "entry"
            return f"{kind}: {where}: {error.message}"
        extra = self.undeclared(dict(fields), message.headers, "")
        if extra:
            return f"{kind}: field {extra} is not in the contract"
        if message.payload is None:
            return None
        data = json.loads(fields["data"])
        error = best_match(self.validator(f"{base}/payload").iter_errors(data))
        if error is not None:
            where = f"data.{_path(error)}" if error.absolute_path else "data"
            return f"{kind}: {where}: {error.message}"
        extra = self.undeclared(data, message.payload, "data.")
        return f"{kind}: {extra} is not in the contract" if extra else None

    def examples(self) -> list[tuple[str, dict[str, Any]]]:
        """(message name, example) of every example the document gives."""
        return [
            (message["name"], example)
            for message in self.document["components"]["messages"].values()
            for example in message.get("examples", [])
        ]

    # --- members the document declares -------------------------------------------------------

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.document
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def _members(self, schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
        schema = self._resolve(schema)
        found: dict[str, dict[str, Any]] = {}
        for combined in ("allOf", "oneOf", "anyOf"):
            for sub in schema.get(combined, []):
                found.update(self._members(sub))
        found.update(schema.get("properties", {}))
        return found

    def undeclared(self, instance: Any, schema: dict[str, Any], prefix: str) -> str | None:
        """The first member of `instance` (at any depth) that `schema` does not declare."""
        if not isinstance(instance, dict):
            return None
        members = self._members(schema)
        for key, value in instance.items():
            if key not in members:
                return f"{prefix}{key}"
            deeper = self.undeclared(value, members[key], f"{prefix}{key}.")
            if deeper:
                return deeper
        return None


def load_contract() -> EventContract:
    return EventContract(yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8")))


CONTRACT = load_contract()
