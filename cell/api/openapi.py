"""The cell's OpenAPI document (``/v1/openapi.json``, also through the router).

Every Slack Web API method of the registry (``POST /api/<method>``, JSON or form body) with its
arguments' schema from the method's own pydantic model and Slack's envelope as its answer; every
``/v1`` endpoint with its summary and answers from its docstring (Starlette's schema generator)
and, for those that take a body, the body's schema from its model (``BODIES``). JSON Schema
2020-12 inside OpenAPI 3.1, so the models' schemas go in as they are.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema
from starlette.routing import BaseRoute
from starlette.schemas import SchemaGenerator

from cell.api.registry import METHODS

ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["ok"],
    "properties": {
        "ok": {"type": "boolean"},
        "error": {"type": "string", "description": "Slack's error code when ok is false"},
        "response_metadata": {"type": "object", "properties": {
            "next_cursor": {"type": "string"}, "messages": {"type": "array", "items": {"type": "string"}}}},
    },
    "additionalProperties": True,
}



class _Schema(GenerateJsonSchema):
    """Files (``UploadFile`` arguments) are binary strings of a multipart body."""

    def is_instance_schema(self, schema: core_schema.IsInstanceSchema) -> JsonSchemaValue:
        return {"type": "string", "format": "binary"}


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(schema_generator=_Schema)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _answers(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "200": {"description": "ok (or ok: false with Slack's error code)", "content": _json(ENVELOPE)},
        "429": {"description": "rate limited: retry after Retry-After seconds", "content": _json(ENVELOPE)},
        **(extra or {}),
    }


def slack_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for name, spec in sorted(METHODS.items()):
        schema = schema_of(spec.args)
        body = {"application/json": {"schema": schema}, "application/x-www-form-urlencoded": {"schema": schema}}
        if spec.multipart:
            body["multipart/form-data"] = {"schema": schema}
        paths[f"/api/{name}"] = {"post": {
            "summary": (spec.handler.__doc__ or name).strip().splitlines()[0],
            "operationId": name,
            "tags": ["Slack Web API"],
            "description": f"Slack Web API method `{name}` (rate tier {spec.tier}); a bearer token, "
                           "or `token` in the body or query.",
            "security": [{"bearer": []}],
            "requestBody": {"required": False, "content": body},
            "responses": _answers(),
        }}
    return paths


def document(routes: list[BaseRoute], bodies: dict[tuple[str, str], type[BaseModel]], *,
             title: str = "Cellchat cell API", slack: bool = True) -> dict[str, Any]:
    """The whole document for an app with ``routes``; ``bodies`` maps (path, verb) to a body model.
    ``slack``: with the Slack Web API methods of the registry (the cell's document)."""
    generator = SchemaGenerator({"openapi": "3.1.0", "info": {"title": title, "version": "1"}})
    doc: dict[str, Any] = generator.get_schema(routes=routes)
    for path, operations in doc.get("paths", {}).items():
        for verb, operation in operations.items():
            operation.setdefault("tags", ["Cellchat /v1"])
            model = bodies.get((path, verb))
            if model is not None:
                operation["requestBody"] = {"required": True, "content": _json(schema_of(model))}
            for answer in operation.get("responses", {}).values():
                answer.setdefault("content", _json(ENVELOPE))
    if slack:
        doc.setdefault("paths", {}).update(slack_paths())
    doc["components"] = {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}
    return doc
