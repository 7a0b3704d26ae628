"""Selfie search: read up to three selfies in memory, search an event's faces, describe the photos found.

Privacy: selfies arrive as bytes in memory (see wrappers.py), are decoded, encoded and compared here,
and nothing derived from them outlives the request: no file, row, log line or cache entry. The only
trace is a count in the analytics ("a selfie search happened"), written by the views. The thumbnails
offered when a selfie shows several people are made from the decoded selfie and sent inline as
data: URIs, never stored.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from PIL import Image
from sqlalchemy import select

from ..extensions import db
from ..models import Event, Face, Photo
from ..pricing import sign_all_of_me
from ..services import faces

MAX_SELFIES = faces.MAX_SELFIES
# A phone selfie is 1-8 MB (a 48 MP JPEG ~12 MB); the request cap keeps in-memory parsing cheap.
MAX_SELFIE_BYTES = 15 * 1024 * 1024
MAX_REQUEST_BYTES = MAX_SELFIES * MAX_SELFIE_BYTES + 64 * 1024
# At most this many photos are returned; the strong band comes first, so they are never the ones cut.
MAX_RESULTS = 500
THUMBNAIL_SIDE = 96

NO_FACE_TIPS = (
    _l("Face the camera, in good light, with nothing behind you brighter than your face."),
    _l("Take off sunglasses, a cap or a mask."),
    _l("Hold the phone at arm's length so your whole face is in the picture."),
    _l("Or choose another photo of yourself, alone if you can."),
)


class SelfieError(ValueError):
    """A selfie the search cannot use; message says why in words for the customer, code for the API."""

    def __init__(self, code: str, message: str, number: int | None = None, tips: Iterable = ()):
        super().__init__(message)
        self.code = code
        self.message = message
        self.number = number
        self.tips = [str(tip) for tip in tips]


@dataclass
class Selfie:
    """One selfie, read: the faces found in it (largest first), which one is used, and its encoding."""

    number: int  # 1-based, in the order the customer chose them
    boxes: list[tuple[int, int, int, int]]  # in the decoded selfie's pixels
    chosen: int
    encoding: np.ndarray
    thumbnails: list[str] = field(default_factory=list)  # data: URIs, one per face, when there are several

    @property
    def face_count(self) -> int:
        return len(self.boxes)


@dataclass
class FoundPhoto:
    """A photo that matched: the photo, the match (score, band), and the matched face's box in original pixels."""

    photo: Photo
    score: float
    band: str
    box: tuple[int, int, int, int]  # top, right, bottom, left

    @property
    def box_percent(self) -> dict[str, float]:
        """The box as percentages of the photo, to outline the face over any displayed size of it."""
        top, right, bottom, left = self.box
        width, height = self.photo.width or 1, self.photo.height or 1
        return {
            "left": round(100 * left / width, 2), "top": round(100 * top / height, 2),
            "width": round(100 * (right - left) / width, 2), "height": round(100 * (bottom - top) / height, 2),
        }


@dataclass
class SearchResult:
    """What a selfie search found in one event, best first, split into the "you" and "maybe you" bands."""

    event: Event
    selfies: list[Selfie]
    photos: list[FoundPhoto]

    @property
    def strong(self) -> list[FoundPhoto]:
        return [found for found in self.photos if found.band == "strong"]

    @property
    def maybe(self) -> list[FoundPhoto]:
        return [found for found in self.photos if found.band == "maybe"]

    @property
    def faces_in_selfies(self) -> int:
        return sum(selfie.face_count for selfie in self.selfies)

    def package_token(self) -> str:
        """A signed token that lets the cart price these photos as the event's "all photos of me" package."""
        return sign_all_of_me(self.event.id, [found.photo.id for found in self.photos])


def parse_choices(values: Iterable[str]) -> dict[int, int]:
    """Read "selfie:face" pairs (1-based selfie, 0-based face) into {selfie: face}; later ones win, junk is ignored."""
    choices = {}
    for value in values:
        number, _sep, face = (value or "").partition(":")
        if number.isdigit() and face.isdigit() and 1 <= int(number) <= MAX_SELFIES:
            choices[int(number)] = int(face)
    return choices


def read_selfies(uploads: list[bytes], choices: dict[int, int] | None = None) -> list[Selfie]:
    """Decode and encode the selfies (1 to MAX_SELFIES of them); SelfieError on the first unusable one."""
    uploads = [data for data in uploads if data]
    if not uploads:
        raise SelfieError("missing_selfie", _("Take a selfie or choose a photo of yourself first."))
    if len(uploads) > MAX_SELFIES:
        raise SelfieError("too_many_selfies", _("Use at most %(n)d photos of yourself.", n=MAX_SELFIES))
    choices = choices or {}
    return [read_selfie(data, number, choices.get(number, 0)) for number, data in enumerate(uploads, start=1)]


def read_selfie(data: bytes, number: int = 1, chosen: int = 0) -> Selfie:
    """Find the faces of one selfie, largest first, and encode the chosen one (the largest by default)."""
    if len(data) > MAX_SELFIE_BYTES:
        raise SelfieError("selfie_too_large", _("Photo %(n)d is larger than %(mb)d MB; choose a smaller one.",
                                                n=number, mb=MAX_SELFIE_BYTES // (1024 * 1024)), number)
    try:
        image, boxes = faces.find_selfie_faces(data)
    except faces.FaceImageError:
        raise SelfieError("not_an_image", _("Photo %(n)d is not an image we can read: use a JPEG, PNG, WebP or "
                                            "HEIC photo.", n=number), number) from None
    if not boxes:
        raise SelfieError("no_face", _("We could not find a face in photo %(n)d.", n=number), number, NO_FACE_TIPS)
    chosen = chosen if 0 <= chosen < len(boxes) else 0
    # Only the chosen face is encoded (~75 ms each): the others are only shown, to be picked from.
    encoding = faces.encode_faces(image.pixels, [boxes[chosen]])[0].encoding
    thumbnails = [_thumbnail(image.pixels, box) for box in boxes] if len(boxes) > 1 else []
    return Selfie(number=number, boxes=boxes, chosen=chosen, encoding=encoding, thumbnails=thumbnails)


def _thumbnail(pixels: np.ndarray, box) -> str:
    """A small JPEG of one face with some margin, as a data: URI (made in memory, never stored)."""
    top, right, bottom, left = box
    margin = (bottom - top) // 3
    height, width = pixels.shape[:2]
    crop = Image.fromarray(pixels[max(0, top - margin):min(height, bottom + margin),
                                  max(0, left - margin):min(width, right + margin)])
    crop.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    crop.save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def search(event: Event, selfies: list[Selfie]) -> SearchResult:
    """Search event's approved, processed photos for the selfies' chosen faces."""
    matches = faces.search_event(event.id, [selfie.encoding for selfie in selfies])[:MAX_RESULTS]
    photos = {}
    boxes = {}
    if matches:
        photos = {
            photo.id: photo
            for photo in db.session.scalars(select(Photo).where(Photo.id.in_([m.photo_id for m in matches])))
        }
        boxes = {
            face_id: (top, right, bottom, left)
            for face_id, top, right, bottom, left in db.session.execute(
                select(Face.id, Face.top, Face.right, Face.bottom, Face.left)
                .where(Face.id.in_([m.face_id for m in matches]))
            )
        }
    found = [
        FoundPhoto(photo=photos[m.photo_id], score=m.score, band=m.band, box=boxes[m.face_id])
        for m in matches
        # A photo or face deleted between the search and these reads is simply left out.
        if m.photo_id in photos and m.face_id in boxes
    ]
    return SearchResult(event=event, selfies=selfies, photos=found)
