"""The OpenAPI 3 document; each API module adds its paths with document()."""
from flask import jsonify, url_for

from . import bp

SPEC: dict = {
    "openapi": "3.0.3",
    "info": {
        "title": "pixstock API",
        "version": "1.0.0",
        "description": "Events, photos, face search and orders. Authenticate with "
        "`Authorization: Bearer <token>` (create one on your account page or with POST /tokens). "
        "Errors are always JSON: `{\"error\": {\"code\", \"message\"}}`. Amounts are integers in the "
        "currency's smallest unit (satang for THB).",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        "required": ["code", "message"],
                    }
                },
            }
        },
        "responses": {
            "Error": {
                "description": "An error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
    },
    "paths": {},
}


def document(path: str, method: str, operation: dict) -> None:
    """Add one operation (an OpenAPI operation object) under path and method."""
    operation.setdefault("responses", {})
    operation["responses"].setdefault("default", {"$ref": "#/components/responses/Error"})
    SPEC["paths"].setdefault(path, {})[method.lower()] = operation


def schema(name: str, definition: dict) -> None:
    """Add a named schema to the document's components."""
    SPEC["components"]["schemas"][name] = definition


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3 document describing every endpoint."""
    spec = dict(SPEC, servers=[{"url": url_for("api.openapi_document", _external=True).rsplit("/openapi.json", 1)[0]}])
    return jsonify(spec)
