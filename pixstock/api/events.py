"""Events in the API: the public list and pages of approved photos; creating, editing and staffing (admins);
approving and rejecting photos (admins)."""
from datetime import date

from flask import jsonify, request, url_for
from flask_login import AnonymousUserMixin

from ..access import get_event, get_photo
from ..approval import Decision, ReviewError, review_photos
from ..catalog import Cursor, CursorError, GalleryFilter, event_url, gallery_page
from ..extensions import db
from ..models import AuditLog, Event, EventStatus, Role, TransitionError, User
from ..models.events import CURRENCIES, PricingError
from . import bp
from .auth import ApiError, api_user, json_body, token_required
from .openapi import document, schema

MAX_PAGE = 200
ANONYMOUS = AnonymousUserMixin()


def event_json(event: Event) -> dict:
    """The API representation of an event."""
    return {
        "id": event.id,
        "name": event.name,
        "slug": event.slug,
        "description": event.description,
        "date": event.event_date.isoformat() if event.event_date else None,
        "location": event.location,
        "status": event.status.value,
        "sales_enabled": event.sales_enabled,
        "expiry_date": event.expiry_date.isoformat() if event.expiry_date else None,
        "watermark_text": event.watermark_text,
        "currency": event.currency,
        "url": event_url(event),
        "pricing": event.pricing,
        "cover_photo_id": event.cover_photo_id,
    }


def _viewer():
    # Never fall back to the session: access helpers default to current_user when given None.
    return api_user() or ANONYMOUS


def _load_event(event_id: int, need: str = "view") -> Event:
    return get_event(event_id, _viewer(), need=need)


@bp.get("/events")
def list_events():
    """Events on sale, newest first; optional q (name or place), from and to (dates)."""
    def day(name):
        try:
            return date.fromisoformat(request.args.get(name, ""))
        except ValueError:
            return None

    search = " ".join(request.args.get("q", "").split())[:100]
    events = db.session.scalars(Event.on_sale(search, day("from"), day("to")).limit(500)).unique().all()
    return jsonify({"events": [event_json(e) for e in events]})


@bp.get("/events/<int:event_id>")
def show_event(event_id: int):
    """One event: public when on sale; staff see their own at any stage."""
    return jsonify(event_json(_load_event(event_id)))


@bp.get("/events/<int:event_id>/photos")
def list_event_photos(event_id: int):
    """The event's approved photos in time order, a keyset page at a time (`cursor` from `next_cursor`)."""
    from .photos import photo_json

    event = _load_event(event_id)
    try:
        after = Cursor.decode(request.args["cursor"]) if request.args.get("cursor") else None
    except CursorError as exc:
        raise ApiError(400, "invalid_cursor", str(exc)) from None
    try:
        limit = min(max(int(request.args.get("limit", 48)), 1), MAX_PAGE)
    except ValueError:
        raise ApiError(400, "invalid_limit", f"limit must be a whole number from 1 to {MAX_PAGE}.") from None
    photos, next_cursor = gallery_page(event, GalleryFilter.from_args(request.args), after, limit)
    user = api_user()
    return jsonify({
        "photos": [photo_json(p, user) for p in photos],
        "next_cursor": next_cursor.encode() if next_cursor else None,
    })


# --- Admin: create, edit, staff -------------------------------------------------------------------

TEXT_FIELDS = {"name": (1, 200), "description": (0, 5000), "location": (0, 200), "watermark_text": (1, 100)}
EDITABLE = set(TEXT_FIELDS) | {"slug", "date", "expiry_date", "currency", "status", "sales_enabled", "pricing",
                               "cover_photo_id"}


def _invalid(field: str, message: str):
    return ApiError(422, "invalid_field", message, field=field)


def _date_field(data: dict, field: str):
    value = data[field]
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise _invalid(field, f"'{field}' must be a date like 2025-03-02, or null.") from None


def _amount(value, field: str, nullable: bool = False):
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, f"'{field}' must be a whole number of the smallest currency unit (satang).")
    return value


def _apply_pricing(event: Event, pricing) -> None:
    if not isinstance(pricing, dict):
        raise _invalid("pricing", "'pricing' must be an object: {single, bundles, all_of_me}.")
    unknown = set(pricing) - {"single", "bundles", "all_of_me"}
    if unknown:
        raise _invalid("pricing", f"Unknown pricing field(s): {', '.join(sorted(unknown))}.")
    current = event.pricing
    single = _amount(pricing.get("single", current["single"]), "pricing.single")
    all_of_me = _amount(pricing.get("all_of_me", current["all_of_me"]), "pricing.all_of_me", nullable=True)
    raw_bundles = pricing.get("bundles", current["bundles"])
    if not isinstance(raw_bundles, list) or not all(isinstance(b, dict) for b in raw_bundles):
        raise _invalid("pricing.bundles", "'bundles' must be a list of {count, price}.")
    bundles = [(_amount(b.get("count"), "pricing.bundles.count"), _amount(b.get("price"), "pricing.bundles.price"))
               for b in raw_bundles]
    try:
        event.set_pricing(single, bundles, all_of_me)
    except PricingError as exc:
        raise _invalid("pricing", str(exc)) from None


def _apply(event: Event, data: dict) -> list[str]:
    """Validate and apply the editable fields in data; status and sales last, after the prices they need."""
    unknown = set(data) - EDITABLE
    if unknown:
        raise ApiError(422, "unknown_field", f"Not an editable field: {', '.join(sorted(unknown))}.",
                       fields=sorted(unknown))
    for field, (low, high) in TEXT_FIELDS.items():
        if field in data:
            value = data[field]
            if not isinstance(value, str) or not low <= len(value.strip()) <= high:
                raise _invalid(field, f"'{field}' must be text of {low} to {high} characters.")
            setattr(event, field, value.strip())
    if "date" in data:
        event.event_date = _date_field(data, "date")
    if "expiry_date" in data:
        event.expiry_date = _date_field(data, "expiry_date")
    if event.expiry_date and event.event_date and event.expiry_date < event.event_date:
        raise _invalid("expiry_date", "Sales cannot end before the event takes place.")
    if "currency" in data:
        if data["currency"] not in CURRENCIES:
            raise _invalid("currency", f"'currency' must be one of {', '.join(CURRENCIES)}.")
        event.currency = data["currency"]
    if "slug" in data:
        try:
            event.set_slug(data["slug"] if isinstance(data["slug"], str) else "")
        except ValueError as exc:
            raise _invalid("slug", str(exc)) from None
    if "pricing" in data:
        _apply_pricing(event, data["pricing"])
    if "cover_photo_id" in data:
        photo = None
        if data["cover_photo_id"] is not None:
            if isinstance(data["cover_photo_id"], bool) or not isinstance(data["cover_photo_id"], int):
                raise _invalid("cover_photo_id", "'cover_photo_id' must be a photo id or null.")
            from ..models import Photo

            photo = db.session.get(Photo, data["cover_photo_id"]) if 0 < data["cover_photo_id"] < 2**31 else None
            if photo is None:
                raise _invalid("cover_photo_id", "No such photo.")
        try:
            event.set_cover(photo)
        except ValueError as exc:
            raise _invalid("cover_photo_id", str(exc)) from None
    if "status" in data:
        try:
            new = EventStatus(data["status"])
        except ValueError:
            raise _invalid("status", "'status' must be one of " + ", ".join(s.value for s in EventStatus) + ".") from None
        try:
            event.transition_to(new)
        except TransitionError as exc:
            raise ApiError(409, "transition_refused", str(exc), allowed=[s.value for s in event.allowed_transitions()])
    if "sales_enabled" in data:
        if not isinstance(data["sales_enabled"], bool):
            raise _invalid("sales_enabled", "'sales_enabled' must be true or false.")
        try:
            event.set_sales(data["sales_enabled"])
        except (TransitionError, PricingError) as exc:
            raise ApiError(409, "sales_refused", str(exc)) from None
    return sorted(data)


@bp.post("/events")
@token_required(Role.ADMIN)
def create_event():
    """Create an event (a draft); any editable field may be given, name is required."""
    data = json_body()
    if "name" not in data:
        raise _invalid("name", "'name' is required.")
    if data.get("status", "draft") != "draft":
        raise _invalid("status", "A new event starts as a draft; move it along with PATCH, one step at a time.")
    data.pop("status", None)
    event = Event(status=EventStatus.DRAFT, slug="", price_single=0, description="", location="",
                  watermark_text="pixstock", currency="THB", sales_enabled=False)
    try:
        if "slug" not in data and isinstance(data.get("name"), str):
            data = {**data, "slug": Event.unique_slug(data["name"])}
        fields = _apply(event, data)
        db.session.add(event)
        db.session.flush()
    except Exception:
        db.session.rollback()
        raise
    AuditLog.record(api_user(), "event.create", event, fields=fields, via="api")
    db.session.commit()
    response = jsonify(event_json(event))
    response.headers["Location"] = url_for("api.show_event", event_id=event.id)
    return response, 201


@bp.patch("/events/<int:event_id>")
@token_required(Role.ADMIN)
def update_event(event_id: int):
    """Change any editable field of an event, status included (one step, with the same rules as the site)."""
    event = _load_event(event_id, need="manage")
    data = json_body()
    old_status = event.status
    try:
        fields = _apply(event, data)
    except Exception:
        db.session.rollback()
        raise
    AuditLog.record(api_user(), "event.update", event, fields=fields, via="api",
                    **({"old": old_status.value, "new": event.status.value} if event.status is not old_status else {}))
    db.session.commit()
    return jsonify(event_json(event))


def _photographers_json(event: Event) -> dict:
    return {"event_id": event.id, "photographers": [
        {"id": a.user.id, "email": a.user.email, "name": a.user.display_name, "active": a.user.active}
        for a in event.assignments
    ]}


@bp.post("/events/<int:event_id>/photographers")
@token_required(Role.ADMIN)
def assign_photographer(event_id: int):
    """Assign an existing photographer (by email) to the event."""
    event = _load_event(event_id, need="manage")
    data = json_body()
    email = data.get("email")
    if not isinstance(email, str) or not email.strip():
        raise _invalid("email", "Send the photographer's 'email'.")
    user = User.by_email(email)
    if user is None or user.role is not Role.PHOTOGRAPHER:
        raise ApiError(404, "not_found", "No photographer has this email; invite them first.")
    try:
        added = event.assign(user)
    except ValueError as exc:
        raise ApiError(409, "not_assignable", str(exc)) from None
    if added:
        AuditLog.record(api_user(), "event.assign", event, photographer_id=user.id, email=user.email, via="api")
        db.session.commit()
    return jsonify(_photographers_json(event)), 201 if added else 200


@bp.delete("/events/<int:event_id>/photographers/<int:user_id>")
@token_required(Role.ADMIN)
def remove_photographer(event_id: int, user_id: int):
    """Remove a photographer from the event (their photos stay)."""
    event = _load_event(event_id, need="manage")
    user = db.session.get(User, user_id)
    if user is None or not event.unassign(user):
        raise ApiError(404, "not_found", "This photographer is not assigned to the event.")
    AuditLog.record(api_user(), "event.unassign", event, photographer_id=user.id, email=user.email, via="api")
    db.session.commit()
    return jsonify(_photographers_json(event))


# --- Admin: approval --------------------------------------------------------------------------------


def _review(photo_id: int, decision: Decision, reason: str | None):
    from .photos import photo_json

    photo = get_photo(photo_id, api_user(), need="manage")
    if photo.processing_status.value != "ready":
        raise ApiError(409, "not_processed", "Only a processed photo can be reviewed.")
    try:
        review_photos([photo.id], api_user(), decision, reason)
    except ReviewError as exc:
        raise _invalid("reason", str(exc)) from None
    db.session.refresh(photo)
    return jsonify(photo_json(photo, api_user()))


@bp.post("/photos/<int:photo_id>/approve")
@token_required(Role.ADMIN)
def approve_photo(photo_id: int):
    """Approve a processed photo: customers can now see and buy it."""
    return _review(photo_id, Decision.APPROVE, None)


@bp.post("/photos/<int:photo_id>/reject")
@token_required(Role.ADMIN)
def reject_photo(photo_id: int):
    """Reject a photo with a reason the photographer sees."""
    data = json_body()
    reason = data.get("reason")
    if not isinstance(reason, str):
        raise _invalid("reason", "Send a 'reason': the photographer sees it.")
    return _review(photo_id, Decision.REJECT, reason)


# --- OpenAPI ------------------------------------------------------------------------------------------

_money = {"type": "integer", "description": "In the currency's smallest unit (satang for THB)."}
schema("Pricing", {
    "type": "object",
    "properties": {
        "single": _money,
        "bundles": {"type": "array", "items": {"type": "object", "required": ["count", "price"], "properties": {
            "count": {"type": "integer", "minimum": 2}, "price": _money}}},
        "all_of_me": {**_money, "nullable": True},
    },
})
_event_properties = {
    "id": {"type": "integer", "readOnly": True},
    "name": {"type": "string", "maxLength": 200},
    "slug": {"type": "string", "maxLength": 100},
    "description": {"type": "string"},
    "date": {"type": "string", "format": "date", "nullable": True},
    "location": {"type": "string"},
    "status": {"type": "string", "enum": [s.value for s in EventStatus],
               "description": "Moves one step forward or back along draft → shooting → processing → on_sale → "
                              "closed; closed is final."},
    "sales_enabled": {"type": "boolean"},
    "expiry_date": {"type": "string", "format": "date", "nullable": True,
                    "description": "After this day the gallery is closed and nothing can be bought."},
    "watermark_text": {"type": "string"},
    "currency": {"type": "string", "enum": list(CURRENCIES)},
    "url": {"type": "string", "format": "uri", "readOnly": True, "description": "The public gallery."},
    "pricing": {"$ref": "#/components/schemas/Pricing"},
    "cover_photo_id": {"type": "integer", "nullable": True},
}
schema("Event", {"type": "object", "properties": _event_properties})
schema("EventChanges", {
    "type": "object",
    "properties": {k: v for k, v in _event_properties.items() if k not in ("id", "url")},
    "additionalProperties": False,
})
schema("Photographers", {"type": "object", "properties": {
    "event_id": {"type": "integer"},
    "photographers": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "email": {"type": "string"}, "name": {"type": "string"},
        "active": {"type": "boolean"}}}},
}})


def _json(ref: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


_error = {"$ref": "#/components/responses/Error"}
_event_id = {"name": "event_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_photo_id = {"name": "photo_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_admin = [{"bearer": []}]

document("/events", "get", {
    "summary": "Events on sale",
    "parameters": [
        {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "Part of the name or place."},
        {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
        {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
    ],
    "responses": {"200": {"description": "The events", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}},
    }}}}},
})
document("/events", "post", {
    "summary": "Create an event (admin); it starts as a draft",
    "security": _admin,
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "allOf": [{"$ref": "#/components/schemas/EventChanges"}, {"required": ["name"]}]}}}},
    "responses": {"201": _json("#/components/schemas/Event", "The new event"), "401": _error, "403": _error,
                  "422": _error},
})
document("/events/{event_id}", "get", {
    "summary": "One event",
    "parameters": [_event_id],
    "responses": {"200": _json("#/components/schemas/Event", "The event"), "404": _error},
})
document("/events/{event_id}", "patch", {
    "summary": "Edit an event (admin): any editable field, status with the lifecycle's rules, prices",
    "security": _admin,
    "parameters": [_event_id],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/EventChanges"}}}},
    "responses": {"200": _json("#/components/schemas/Event", "The event"), "404": _error,
                  "409": _error, "422": _error},
})
document("/events/{event_id}/photos", "get", {
    "summary": "The event's approved photos in time order (keyset pages)",
    "parameters": [
        _event_id,
        {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page."},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 48}},
        {"name": "photographer", "in": "query", "schema": {"type": "integer"}},
        {"name": "from", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 23},
         "description": "Hour of the day (local time) from which to show photos."},
        {"name": "to", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 24}},
    ],
    "responses": {"200": {"description": "A page of photos", "content": {"application/json": {"schema": {
        "type": "object", "properties": {
            "photos": {"type": "array", "items": {"$ref": "#/components/schemas/Photo"}},
            "next_cursor": {"type": "string", "nullable": True}}}}}},
        "400": _error, "404": _error},
})
document("/events/{event_id}/photographers", "post", {
    "summary": "Assign an existing photographer to an event (admin)",
    "security": _admin,
    "parameters": [_event_id],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}}}},
    "responses": {"201": _json("#/components/schemas/Photographers", "Assigned"),
                  "200": _json("#/components/schemas/Photographers", "Already assigned"),
                  "404": _error, "409": _error, "422": _error},
})
document("/events/{event_id}/photographers/{user_id}", "delete", {
    "summary": "Remove a photographer from an event (admin)",
    "security": _admin,
    "parameters": [_event_id, {"name": "user_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
    "responses": {"200": _json("#/components/schemas/Photographers", "Removed"), "404": _error},
})
document("/photos/{photo_id}/approve", "post", {
    "summary": "Approve a processed photo (admin)",
    "security": _admin,
    "parameters": [_photo_id],
    "responses": {"200": _json("#/components/schemas/Photo", "The photo"), "404": _error, "409": _error},
})
document("/photos/{photo_id}/reject", "post", {
    "summary": "Reject a photo with a reason (admin)",
    "security": _admin,
    "parameters": [_photo_id],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["reason"], "properties": {"reason": {"type": "string", "maxLength": 500}}}}}},
    "responses": {"200": _json("#/components/schemas/Photo", "The photo"), "404": _error, "409": _error,
                  "422": _error},
})
