"""The cell's OpenAPI document (``/v1/openapi.json``, also through the router).

Every Slack Web API method of the registry (``POST /api/<method>``, JSON or form body) with its
arguments' schema from the method's own pydantic model, and as its answer either the method's own
``ok: true`` shape (``cell.api.answers.SLACK``) or Slack's error; every ``/v1`` endpoint with its
summary and statuses from its docstring (Starlette's schema generator), the body's schema from its
model (``BODIES``) and its answer's from its ``TypedDict`` (``answers``). JSON Schema 2020-12 inside
OpenAPI 3.1; the answers' shapes are shared under ``components.schemas``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema
from starlette.routing import BaseRoute
from starlette.schemas import SchemaGenerator

from cell.api import answers as shapes
from cell.api.registry import METHODS

_REF = "#/components/schemas/{model}"

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


def _stream(media_type: str, line: dict[str, Any] | None) -> dict[str, Any]:
    if line is None:
        return {media_type: {"schema": {"type": "string", "contentMediaType": media_type}}}
    return {media_type: {"schema": {**line, "description": "one JSON document per line, each of this shape"}}}


def components(types: list[type]) -> tuple[dict[type, dict[str, Any]], dict[str, Any]]:
    """The schema of each of ``types`` (a ``$ref``) and the shared definitions they refer to."""
    unique = list(dict.fromkeys(types))
    refs, defs = TypeAdapter.json_schemas([(t, "serialization", TypeAdapter(t)) for t in unique], ref_template=_REF)
    return {t: refs[(t, "serialization")] for t in unique}, dict(defs.get("$defs", {}))


def _either(answer: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [answer, error]}


def _answers(answer: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    return {
        "200": {"description": "ok, or ok: false with Slack's error code", "content": _json(_either(answer, error))},
        "429": {"description": "rate limited: retry after Retry-After seconds", "content": _json(error)},
    }


def slack_paths(refs: dict[type, dict[str, Any]]) -> dict[str, Any]:
    # A method without a shape in cell.api.answers.SLACK is documented with the bare envelope (the
    # document must always serve); tests/cell/test_openapi_answers.py fails until it has one.
    error = refs[shapes.SlackError]
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
            "responses": _answers(refs[shapes.SLACK[name]] if name in shapes.SLACK else ENVELOPE, error),
        }}
    return paths


def document(routes: list[BaseRoute], bodies: dict[tuple[str, str], type[BaseModel]], *,
             answers: dict[tuple[str, str], type] | None = None, error: type = shapes.SlackError,
             errors_as_200: bool = True, title: str = "Cellchat cell API", slack: bool = True,
             streams: dict[tuple[str, str], tuple[str, Any]] | None = None) -> dict[str, Any]:
    """The whole document for an app with ``routes``; ``bodies`` maps (path, verb) to a body model,
    ``answers`` to the ``TypedDict`` of its successful answer, ``error`` is the refusal's shape
    (``errors_as_200``: refusals also come with status 200, as the cell's Slack-style ``/v1`` does).
    ``streams`` maps (path, verb) to the media type of an answer that is not one JSON document and
    the shape of each of its lines (NDJSON), or None (binary: an archive).
    ``slack``: with the Slack Web API methods of the registry (the cell's document)."""
    answers, streams = answers or {}, streams or {}
    generator = SchemaGenerator({"openapi": "3.1.0", "info": {"title": title, "version": "1"}})
    doc: dict[str, Any] = generator.get_schema(routes=routes)
    lines = [shape for _, shape in streams.values() if shape is not None]
    refs, defs = components([*answers.values(), *lines, error, *(shapes.SLACK.values() if slack else ())])
    for path, operations in doc.get("paths", {}).items():
        for verb, operation in operations.items():
            operation.setdefault("tags", ["Cellchat /v1"])
            if "{" in path:
                operation.setdefault("parameters", [
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                    for name in re.findall(r"{(\w+)}", path)])
            model = bodies.get((path, verb))
            if model is not None:
                operation["requestBody"] = {"required": True, "content": _json(schema_of(model))}
            shape = answers.get((path, verb))
            stream = streams.get((path, verb))
            for status, answer in operation.get("responses", {}).items():
                if str(status).startswith("2") and stream is not None:
                    answer.setdefault("content", _stream(stream[0], refs.get(stream[1])))
                    continue
                if str(status).startswith("2") and shape is not None:
                    schema = _either(refs[shape], refs[error]) if errors_as_200 else refs[shape]
                elif str(status).startswith("2"):
                    schema = ENVELOPE
                else:
                    schema = refs[error]
                answer.setdefault("content", _json(schema))
            # Any status a docstring does not name (401, 403, 404, 413, ...) is a refusal.
            operation.setdefault("responses", {}).setdefault(
                "default", {"description": "refused: the error's code, and why", "content": _json(refs[error])})
    if slack:
        doc.setdefault("paths", {}).update(slack_paths(refs))
    doc["components"] = {"schemas": defs, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}
    return doc
