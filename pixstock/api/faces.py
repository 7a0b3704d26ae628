"""Face search over the API: one to three selfies in, the event's photos of that person out. No account needed."""
from flask import jsonify, request

from ..analytics.tracking import track
from ..extensions import db, limiter
from ..faces.indexing import face_search_available, refuse_face_search
from ..faces.routes import search_rate_limit
from ..faces.search import MAX_REQUEST_BYTES, MAX_RESULTS, MAX_SELFIES, SelfieError, parse_choices, read_selfies, search
from ..media.routes import photo_url
from ..models import Event, TrackKind
from ..wrappers import in_memory_uploads
from . import bp
from .auth import ApiError
from .openapi import document, schema


@bp.post("/events/<int:event_id>/face-search")
@in_memory_uploads(MAX_REQUEST_BYTES)
@limiter.shared_limit(search_rate_limit, scope="face-search")
def search_faces(event_id: int):
    """Find an event's photos of the person in the selfies; the selfies are discarded when the answer is sent."""
    event = db.session.get(Event, event_id)
    if event is None or not event.is_public:
        if event is not None:
            refuse_face_search(event)
        raise ApiError(404, "not_found", "No such event on sale.")
    if not face_search_available(event):
        refuse_face_search(event)
        raise ApiError(409, "face_search_unavailable", "Face search is not available for this event.")
    uploads = [file.read() for file in request.files.getlist("selfie")]
    try:
        selfies = read_selfies(uploads, parse_choices(request.form.getlist("face")))
    except SelfieError as error:
        extra = {"selfie": error.number} if error.number else {}
        raise ApiError(422, error.code, error.message, **extra) from None
    result = search(event, selfies)
    track(TrackKind.SELFIE_SEARCH, event.id)
    return jsonify({
        "matches": [
            {
                "photo_id": found.photo.id,
                "score": round(found.score, 4),
                "band": found.band,
                "box": list(found.box),
                "preview_url": photo_url(found.photo, "preview", external=True),
            }
            for found in result.photos
        ],
        "faces_in_selfie": result.faces_in_selfies,
        "selfies": [{"faces": selfie.face_count, "used_face": selfie.chosen} for selfie in result.selfies],
    })


schema("FaceMatch", {
    "type": "object",
    "required": ["photo_id", "score", "band", "box", "preview_url"],
    "properties": {
        "photo_id": {"type": "integer"},
        "score": {"type": "number", "description": "Lower is closer: the face distance to the nearest selfie, "
                  "lowered a little when other selfies agree."},
        "band": {"type": "string", "enum": ["strong", "maybe"],
                 "description": "strong: shown as \"you\"; maybe: weaker, for the person to confirm."},
        "box": {"type": "array", "items": {"type": "integer"}, "minItems": 4, "maxItems": 4,
                "description": "The matched face as [top, right, bottom, left] in the original photo's pixels "
                "(after EXIF orientation; the photo's width and height are in GET /photos/{id})."},
        "preview_url": {"type": "string", "format": "uri", "description": "The watermarked preview."},
    },
})
document("/events/{event_id}/face-search", "post", {
    "summary": "Find your photos in an event with one to three selfies (no account needed; rate limited)",
    "description": (
        "Send the selfies as multipart fields named `selfie` (1 to 3; JPEG, PNG, WebP or HEIC). The largest face "
        "of each is searched for, unless `face` picks another (`<selfie>:<face>`, selfie from 1, face from 0 "
        "in the order of `selfies[].faces`, largest first). A photo matches when any selfie is close; agreeing "
        "selfies rank it higher. Only approved photos of an event on sale are searched, best first, at most "
        f"{MAX_RESULTS}. The selfies are used once, in memory, and discarded when the answer is sent: nothing is "
        "stored or logged. Show your users that notice before they send a selfie. Searches are rate limited per "
        "client (429)."
    ),
    "security": [],
    "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["selfie"],
        "properties": {
            "selfie": {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1,
                       "maxItems": MAX_SELFIES},
            "face": {"type": "array", "items": {"type": "string", "pattern": "^[1-3]:[0-9]+$"}},
        },
    }}}},
    "responses": {
        "200": {"description": "The photos found", "content": {"application/json": {"schema": {
            "type": "object", "required": ["matches", "faces_in_selfie"],
            "properties": {
                "matches": {"type": "array", "items": {"$ref": "#/components/schemas/FaceMatch"}},
                "faces_in_selfie": {"type": "integer", "description": "Faces found in the selfies (all of them)."},
                "selfies": {"type": "array", "items": {"type": "object", "properties": {
                    "faces": {"type": "integer"}, "used_face": {"type": "integer"}}}},
            },
        }}}},
        "404": {"$ref": "#/components/responses/Error"},
        "409": {"$ref": "#/components/responses/Error"},
        "413": {"$ref": "#/components/responses/Error"},
        "422": {"description": "A selfie is missing, is not an image, or shows no face (`error.code`: "
                "missing_selfie, too_many_selfies, not_an_image, selfie_too_large, no_face; `error.selfie`: "
                "which one, from 1)", "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Error"}}}},
        "429": {"$ref": "#/components/responses/Error"},
    },
})
