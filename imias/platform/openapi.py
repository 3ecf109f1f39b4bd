"""What the OpenAPI document says beyond what Litestar infers from the handlers, so that
generated clients and conformance checks (schemathesis) agree with the server:

- a request body whose Struct refuses unknown fields (``forbid_unknown_fields``) says so
  (``additionalProperties: false``);
- every API route lists the problem documents (``application/problem+json``, RFC 9457)
  it may answer with: 400, 401, 404, 409, 410, 422, 429 and 503 on every route, 403 on
  the routes that need a caller;
- a route that needs a header of its own (a retry-safe booking's ``Idempotency-Key``)
  declares it as a required parameter (:func:`required_header`), while the handler keeps
  its own check and its own problem code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.enums import ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation, Parameter, Reference, Schema
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute
from litestar.typing import FieldDefinition

from imias.platform.policy import POLICY, Policy
from imias.platform.problems import PROBLEM_JSON, Problem

API_PREFIX = "/api/"

_ALWAYS = {
    400: "The request is malformed or a value is out of range (code: validation_error, ...)",
    401: "No valid token, or a sign-in that failed (code: unauthenticated, sign_in_failed)",
    404: "There is no such resource, or it is not the caller's (code: not_found, ...)",
    409: "The request conflicts with the current state (code: slot_taken, ...)",
    410: "What the request names has expired (code: hold_expired)",
    422: "The request repeats an Idempotency-Key of another request",
    429: "Too many attempts; try again later (code: too_many_attempts)",
    503: "The service or a server it needs is not available; try again shortly",
}
_SIGNED_IN = {
    403: "The caller's role or organisation may not do this (code: forbidden, ...)",
}


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's schema of a msgspec Struct, with ``additionalProperties: false`` for a
    Struct that refuses unknown fields."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema: Schema | Reference = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            target = schema
            if isinstance(target, Reference):
                target = schema_creator.schema_registry.from_reference(target).schema
            if isinstance(target, Schema):
                target.additional_properties = False
        return schema  # type: ignore[return-value]


def required_header(name: str, description: str, *, min_length: int, max_length: int) -> type:
    """An ``operation_class`` that adds a required header parameter to the route's
    operation in the document (the handler reads and checks the header itself)."""
    header = Parameter(
        name=name,
        param_in=ParamType.HEADER,
        required=True,
        description=description,
        schema=Schema(type="string", min_length=min_length, max_length=max_length),  # type: ignore[arg-type]
    )

    @dataclass
    class WithHeader(Operation):
        def __post_init__(self) -> None:
            self.parameters = [*(self.parameters or []), header]

    WithHeader.__name__ = f"With{name.replace('-', '')}Header"
    return WithHeader


class ProblemResponses(ReceiveRoutePlugin):
    """Documents the problem documents of every API route as it is registered."""

    def receive_route(self, route: BaseRoute) -> None:
        if not route.path.startswith(API_PREFIX):
            return
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            policy = handler.opt.get(POLICY)
            statuses = dict(_ALWAYS)
            if not (isinstance(policy, Policy) and policy.public):
                statuses |= _SIGNED_IN
            responses = dict(handler.responses or {})
            for status, description in statuses.items():
                responses.setdefault(
                    status,
                    ResponseSpec(
                        data_container=Problem,
                        description=description,
                        media_type=PROBLEM_JSON,
                        generate_examples=False,
                    ),
                )
            handler.responses = responses
