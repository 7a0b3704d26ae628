"""Faces: find and encode faces in photos and selfies, and match selfies against an event's faces.

Encodings are dlib's 128-d face descriptors (via face_recognition); two faces are the same person when the
Euclidean distance between their encodings is small. Matching is exact brute force in numpy: an event's
encodings live in one contiguous float32 matrix per process, refreshed when the event's faces change.
"""
from __future__ import annotations

import functools
import io
import math
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from flask import current_app, has_app_context
from PIL import Image, ImageOps
from sqlalchemy import func, select

from pixstock.extensions import db
from pixstock.models import ApprovalStatus, Face, Photo, ProcessingStatus

# Distance thresholds, chosen with bench/face_accuracy.py (figures in bench/README.md, "Faces"). A strong match
# is shown as "this is you": 0.50 leaves a 0.02 margin below the closest pair of different people in the
# labelled set (0.522) and admits none of 3,382 such pairs. A maybe match is offered for the customer to confirm:
# 0.56 is the widest threshold whose false-match rate stays at ~0.1 % per photo (it doubles by 0.58) and keeps
# 97.5 % of the true photos; 0.60, the library's default, lets through four times as many wrong ones.
STRONG_THRESHOLD = 0.50
MAYBE_THRESHOLD = 0.56

# Event photos are indexed at the preview size: faces stay large enough to encode, decoding stays cheap.
PHOTO_MAX_SIDE = 1600
# ...but searched for faces on a greyscale copy at this size: with one upsample HOG still finds faces down to
# ~55 px of the preview, at half the cost of colour at 1600 px (accuracy is unchanged on the labelled set).
PHOTO_DETECT_SIDE = 1200
# Selfies are encoded from this size; a selfie's face is large, so more pixels only cost decode time.
SELFIE_MAX_SIDE = 1024
# ...and searched for faces at this size, which still finds faces of ~65 px in the 1024 px image.
SELFIE_DETECT_SIDE = 640
# A selfie with friends: encode at most this many faces (largest first) to keep the request under a second.
SELFIE_MAX_FACES = 5
ENCODING_SIZE = 128


class FaceImageError(ValueError):
    """The upload is not an image we can look for faces in; `reason` says why in words for a person."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class FaceImage(NamedTuple):
    """RGB pixels ready for face detection, and how many original pixels one of these pixels spans."""

    pixels: np.ndarray
    scale: float


@dataclass(frozen=True, eq=False)  # eq would compare numpy arrays, which has no single truth value
class DetectedFace:
    """One face: box (top, right, bottom, left), height in pixels, and its 128-d encoding."""

    box: tuple[int, int, int, int]
    size: int
    encoding: np.ndarray


@dataclass(frozen=True)
class FaceMatch:
    """A photo matching a search: its best face, that face's distance, the ranking score and the band."""

    photo_id: int
    face_id: int
    distance: float  # to the closest selfie
    score: float  # what results are ranked and banded by: lower is better; the distance itself for one selfie
    band: str  # "strong" or "maybe"


# dlib's detector, landmark predictor and network keep per-call state inside the shared model objects and
# release the GIL while they run: two threads using them at once corrupt the heap (the process aborts). So
# threads of one process take turns; processes (RQ workers, gunicorn workers) run in parallel.
_dlib_lock = threading.Lock()


@functools.cache
def _face_recognition():
    """Import face_recognition on first use: code that only matches never loads dlib's models (~1.3 s)."""
    # face_recognition_models warns about pkg_resources on import, and face_recognition sets Pillow's
    # LOAD_TRUNCATED_IMAGES globally, which would make the rest of the app accept half-uploaded files.
    from PIL import ImageFile

    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import face_recognition
    ImageFile.LOAD_TRUNCATED_IMAGES = truncated
    return face_recognition


@functools.cache
def _register_heif() -> None:
    """Teach Pillow to read HEIC/HEIF, the format of most iPhone selfies."""
    try:
        import pillow_heif
    except ImportError:  # optional: without it HEIC uploads are refused with a clear reason
        return
    pillow_heif.register_heif_opener()


def load_face_image(source, max_side: int = PHOTO_MAX_SIDE) -> FaceImage:
    """Decode a path, file-like or bytes into upright RGB pixels no longer than max_side, with the scale."""
    _register_heif()
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(source)
    try:
        # Image.open sniffs the content; file names and declared types are not trusted.
        with Image.open(source) as image:
            width, height = image.size
            if image.format == "JPEG" and max(width, height) > max_side:
                # Decode at 1/2, 1/4 or 1/8 scale straight from the JPEG: a 12 MP selfie then costs a
                # fraction of a full decode. The box keeps the aspect ratio so draft picks the right scale.
                ratio = max_side / max(width, height)
                image.draft("RGB", (max(1, math.ceil(width * ratio)), max(1, math.ceil(height * ratio))))
            # exif_transpose reads the orientation before the pixels load; it works on the drafted image.
            image = ImageOps.exif_transpose(image)
            image = _to_rgb(image)
    except Image.DecompressionBombError:
        raise FaceImageError("The image has too many pixels.") from None
    except Image.UnidentifiedImageError:
        raise FaceImageError("The file is not an image we can read (JPEG, PNG, WebP or HEIC).") from None
    except (OSError, SyntaxError, ValueError, EOFError, RuntimeError) as error:  # what decoders raise
        raise FaceImageError(f"The image could not be decoded ({error}).") from None
    # The original size after orientation, which is what Face boxes are stored against.
    original_long = max(height, width)
    if max(image.size) > max_side:
        ratio = max_side / max(image.size)
        size = (max(1, round(image.width * ratio)), max(1, round(image.height * ratio)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return FaceImage(np.asarray(image), original_long / max(image.size))


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any mode to RGB, putting transparent areas on white rather than on undefined colour."""
    if image.mode == "RGB":
        image.load()
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    if image.mode.startswith("I;16"):
        # 16-bit greyscale PNG: keep the top 8 bits rather than letting convert clip everything to white.
        image = image.point(lambda value: value / 256).convert("L")
    return image.convert("RGB")


def detect_faces(image, model: str = "hog", upsample: int = 1, detect_side: int | None = None) -> list[DetectedFace]:
    """Find and encode every face in an image (FaceImage or RGB array); boxes are in its coordinates."""
    # model="cnn" is dlib's more accurate detector; without a GPU it takes seconds per photo.
    pixels = image.pixels if isinstance(image, FaceImage) else np.asarray(image)
    boxes = find_face_boxes(pixels, model=model, upsample=upsample, detect_side=detect_side)
    return encode_faces(pixels, boxes)


def find_face_boxes(pixels: np.ndarray, model: str = "hog", upsample: int = 1, detect_side: int | None = None):
    """Return (top, right, bottom, left) boxes of the faces in RGB pixels, in their coordinates."""
    height, width = pixels.shape[:2]
    face_recognition = _face_recognition()
    if model != "hog" or detect_side is None or max(height, width) <= detect_side:
        # Small images cost little to scan, so they keep colour, which helps HOG a little on tiny faces.
        with _dlib_lock:
            return face_recognition.face_locations(pixels, number_of_times_to_upsample=upsample, model=model)
    # HOG time grows with pixels and channels: scan a smaller greyscale copy, then map the boxes back.
    ratio = detect_side / max(height, width)
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    small = Image.fromarray(pixels).convert("L").resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    with _dlib_lock:
        boxes = face_recognition.face_locations(np.asarray(small), number_of_times_to_upsample=upsample, model=model)
    factor = max(height, width) / max(size)
    return [scale_box(box, factor, bounds=(width, height)) for box in boxes]


def encode_faces(pixels: np.ndarray, boxes) -> list[DetectedFace]:
    """Encode the faces at known boxes of RGB pixels."""
    boxes = [tuple(int(value) for value in box) for box in boxes]
    if not boxes:
        return []
    # The 5-point aligner is the one dlib's face model was trained with; the 68-point one is no more accurate
    # on the labelled set and needs a 100 MB model in memory.
    face_recognition = _face_recognition()
    with _dlib_lock:
        encodings = face_recognition.face_encodings(pixels, known_face_locations=boxes, model="small")
    return [
        DetectedFace(box=box, size=box[2] - box[0], encoding=np.asarray(encoding, dtype=np.float32))
        for box, encoding in zip(boxes, encodings)
    ]


def scale_box(box, scale: float, bounds: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
    """Multiply a (top, right, bottom, left) box by scale, optionally clamped to (width, height)."""
    top, right, bottom, left = (round(value * scale) for value in box)
    if bounds is not None:
        width, height = bounds
        top, left = max(0, top), max(0, left)
        bottom, right = min(height, bottom), min(width, right)
    return top, right, bottom, left


def to_original(face: DetectedFace, scale: float) -> DetectedFace:
    """Return the face with its box and size in original-image pixels (what Face rows store)."""
    box = scale_box(face.box, scale)
    return DetectedFace(box=box, size=box[2] - box[0], encoding=face.encoding)


def detect_photo_faces(source, model: str = "hog", upsample: int = 1) -> list[DetectedFace]:
    """Find and encode the faces of an event photo; boxes and sizes are in original-image pixels."""
    image = load_face_image(source, PHOTO_MAX_SIDE)
    found = detect_faces(image, model=model, upsample=upsample, detect_side=PHOTO_DETECT_SIDE)
    return [to_original(face, image.scale) for face in found]


def encode_selfie(source, max_faces: int = SELFIE_MAX_FACES) -> list[DetectedFace]:
    """Find and encode the faces of a selfie, largest first; boxes are in original-image pixels."""
    # A phone selfie of several MB decodes at 1/2-1/8 scale straight to ~1024 px (see load_face_image), is
    # scanned at 640 px and encoded at 1024 px: the encoder works on a 150 px aligned crop, so a selfie's face
    # loses nothing, and the whole selfie costs ~0.2 s on one core instead of ~1 s at full size.
    image, boxes = find_selfie_faces(source, max_faces)
    return [to_original(face, image.scale) for face in encode_faces(image.pixels, boxes)]


def find_selfie_faces(source, max_faces: int = SELFIE_MAX_FACES) -> tuple[FaceImage, list]:
    """Decode a selfie and find its faces, largest first, without encoding them; boxes in the decoded pixels.

    The selfie search encodes only the face the customer means (the largest, unless they pick another).
    """
    image = load_face_image(source, SELFIE_MAX_SIDE)
    boxes = find_face_boxes(image.pixels, detect_side=SELFIE_DETECT_SIDE)
    return image, sorted(boxes, key=lambda box: box[2] - box[0], reverse=True)[:max_faces]


# Matching ---------------------------------------------------------------------------------------------------

# Rows multiplied per BLAS call. OpenBLAS multiplies a 2,048-row block (1 MB, inside L2) by up to three
# selfies at memory speed, while one call over 600k rows with 2-3 columns takes twice as long.
_CHUNK_ROWS = 2048
# Slack on squared distances when picking candidates in float32, so rounding can never drop a face that the
# exact float64 distance would keep (float32 error on these values is ~1e-6).
_CANDIDATE_SLACK = 1e-3
# How much other selfies agreeing lower a face's score: per agreeing selfie, this share of how far inside the
# maybe threshold it is (see bench/README.md, "Faces", for the choice).
AGREEMENT_WEIGHT = 0.1
# The app accepts up to this many selfies per search; FaceIndex.search itself takes any number.
MAX_SELFIES = 3


class FaceIndex:
    """An event's face encodings as one contiguous float32 matrix, searched exactly by brute force.

    Row i is the face face_ids[i] of the photo photo_ids[i]; version identifies the data it was built from.
    """

    def __init__(self, encodings, face_ids, photo_ids, version=None):
        self.encodings = np.ascontiguousarray(encodings, dtype=np.float32).reshape(-1, ENCODING_SIZE)
        self.face_ids = np.asarray(face_ids, dtype=np.int64)
        self.photo_ids = np.asarray(photo_ids, dtype=np.int64)
        if not len(self.face_ids) == len(self.photo_ids) == len(self.encodings):
            raise ValueError("encodings, face_ids and photo_ids must have the same length")
        # ||a||^2 once per face, so a search is one matrix product plus cheap vector arithmetic.
        self.squared_norms = np.einsum("ij,ij->i", self.encodings, self.encodings)
        self.version = version

    def __len__(self) -> int:
        return len(self.face_ids)

    def search(
        self,
        query_encodings,
        strong: float = STRONG_THRESHOLD,
        maybe: float = MAYBE_THRESHOLD,
        agreement: float = AGREEMENT_WEIGHT,
    ) -> list[FaceMatch]:
        """Return a FaceMatch per photo with a face within maybe of any selfie, best first."""
        queries = np.asarray(query_encodings, dtype=np.float32).reshape(-1, ENCODING_SIZE)
        if len(queries) == 0 or len(self) == 0:
            return []
        maybe = max(maybe, strong)
        rows = self._candidates(queries, maybe)
        if len(rows) == 0:
            return []
        distances = self._exact_distances(rows, queries)
        best = distances.min(axis=1)
        keep = best <= maybe
        rows, distances, best = rows[keep], distances[keep], best[keep]
        scores = combined_scores(distances, maybe, agreement)
        # Per photo the face with the lowest score (then distance): sort by photo, score, distance, take firsts.
        photos = self.photo_ids[rows]
        order = np.lexsort((best, scores, photos))
        firsts = order[np.r_[True, photos[order][1:] != photos[order][:-1]]]
        # Rank by score, then distance, then photo id so equal scores come back in a stable order.
        ranked = firsts[np.lexsort((photos[firsts], best[firsts], scores[firsts]))]
        return [
            FaceMatch(
                photo_id=int(photos[i]),
                face_id=int(self.face_ids[rows[i]]),
                distance=float(best[i]),
                score=float(scores[i]),
                band="strong" if scores[i] <= strong else "maybe",
            )
            for i in ranked
        ]

    def _exact_distances(self, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """Distances of the candidate rows to every query in float64, as face_recognition.face_distance gives."""
        queries = queries.astype(np.float64)
        distances = np.empty((len(rows), len(queries)))
        # Blocks bound the memory if a generous threshold ever makes most of a big event a candidate.
        for start in range(0, len(rows), 4096):
            block = self.encodings[rows[start:start + 4096]].astype(np.float64)
            distances[start:start + 4096] = np.linalg.norm(block[:, None, :] - queries[None, :, :], axis=2)
        return distances

    def _candidates(self, queries: np.ndarray, maybe: float) -> np.ndarray:
        """Rows within maybe of any query by ||a||^2 + ||b||^2 - 2ab in float32, with slack for rounding."""
        count = len(self)
        doubled = np.ascontiguousarray((2 * queries).T)  # times 2 is exact in floating point
        products = np.empty((count, len(queries)), dtype=np.float32)
        for start in range(0, count, _CHUNK_ROWS):
            stop = start + _CHUNK_ROWS
            np.matmul(self.encodings[start:stop], doubled, out=products[start:stop])
        # d^2 <= t^2  <=>  2ab - ||b||^2 >= ||a||^2 - t^2: keep each face's best selfie, then compare once.
        query_norms = np.einsum("ij,ij->i", queries, queries)
        best = products[:, 0] - query_norms[0]
        for column in range(1, len(queries)):
            np.maximum(best, products[:, column] - query_norms[column], out=best)
        return np.flatnonzero(best >= self.squared_norms - np.float32(maybe * maybe + _CANDIDATE_SLACK))


def combined_scores(distances: np.ndarray, maybe: float, agreement: float = AGREEMENT_WEIGHT) -> np.ndarray:
    """Score faces (rows) against several selfies (columns): best distance, lowered when other selfies agree."""
    distances = np.asarray(distances, dtype=np.float64)
    best = distances.min(axis=1)
    if distances.shape[1] == 1:
        return best
    # Each other selfie closer than maybe is independent evidence for the same person; an unrelated face that
    # happens to be near one selfie is rarely near the others. The best distance itself is counted once.
    support = np.clip(maybe - distances, 0.0, None).sum(axis=1) - np.clip(maybe - best, 0.0, None)
    return best - agreement * support


# Per-process cache of event indexes ----------------------------------------------------------------------

# Cached faces across all events before the least recently searched event is dropped (~0.5 KB per face).
INDEX_CACHE_MAX_FACES = 2_000_000
# Seconds an event's index is trusted before its faces are counted again. Counting is the cheap version check,
# but not free (~0.1 s for 540k faces on PostgreSQL here), so it runs at most this often per event and
# process: a newly indexed photo becomes findable within this delay. FACE_INDEX_RECHECK_SECONDS overrides.
INDEX_RECHECK_SECONDS = 5.0


@dataclass
class _CachedIndex:
    index: FaceIndex
    checked_at: float  # time.monotonic() of the last version check


_cache_lock = threading.Lock()
_event_locks: dict[int, threading.Lock] = {}
_indexes: OrderedDict[int, _CachedIndex] = OrderedDict()


def get_event_index(event_id: int) -> FaceIndex:
    """Return the FaceIndex of every face of an event, loaded on first use and refreshed when faces change."""
    # The index holds faces of all the event's photos, visible or not; search_event filters the matches by
    # visibility at search time, so approving or rejecting a photo takes effect at once without a reload.
    recheck = float(_config("FACE_INDEX_RECHECK_SECONDS", INDEX_RECHECK_SECONDS))
    with _cache_lock:
        cached = _indexes.get(event_id)
        if cached is not None:
            _indexes.move_to_end(event_id)
            if time.monotonic() - cached.checked_at < recheck:
                return cached.index
        event_lock = _event_locks.setdefault(event_id, threading.Lock())
    # One thread checks and refreshes an event. Meanwhile the others search the index they have (a full
    # reload of 500k faces takes seconds); only a first load makes them wait.
    if not event_lock.acquire(blocking=cached is None):
        return cached.index
    try:
        with _cache_lock:
            latest = _indexes.get(event_id)
        if latest is not None and latest is not cached and time.monotonic() - latest.checked_at < recheck:
            return latest.index  # another thread refreshed it while this one waited
        index = _refreshed(event_id, latest.index if latest is not None else None)
        with _cache_lock:
            _indexes[event_id] = _CachedIndex(index, time.monotonic())
            _indexes.move_to_end(event_id)
            total = sum(len(entry.index) for entry in _indexes.values())
            while total > INDEX_CACHE_MAX_FACES and len(_indexes) > 1:
                total -= len(_indexes.popitem(last=False)[1].index)
        return index
    finally:
        event_lock.release()


def invalidate_event_index(event_id: int) -> None:
    """Make this process check the event's faces on its next search (other processes notice within the delay)."""
    with _cache_lock:
        cached = _indexes.get(event_id)
        if cached is not None:
            cached.checked_at = float("-inf")


def forget_event_index(event_id: int) -> None:
    """Drop an event's cached index from this process: its face data is deleted, or search is closed for it."""
    with _cache_lock:
        _indexes.pop(event_id, None)


def _refreshed(event_id: int, index: FaceIndex | None) -> FaceIndex:
    """The index brought up to date: unchanged, extended by the faces added since, or read again."""
    version = _face_version(event_id)
    if index is not None and index.version == version:
        return index
    # Face ids only grow: faces added since the last read have higher ids, and reading just those costs
    # milliseconds while photos are still being indexed. If the counts then disagree, faces were deleted
    # (a photo removed or indexed again): read everything.
    if index is not None and index.version[1] is not None and version[1] is not None:
        extended = _with_new_faces(index, event_id, up_to=version[1])
        if extended.version == version:
            return extended
    return _load_event_index(event_id)


def _face_version(event_id: int) -> tuple[int, int | None]:
    """Count and highest id of an event's faces: ids only grow, so any insert or delete changes the pair."""
    count, highest = db.session.execute(
        select(func.count(Face.id), func.max(Face.id)).where(Face.event_id == event_id)
    ).one()
    return int(count), highest


def _read_faces(event_id: int, after: int | None = None, up_to: int | None = None):
    """Face ids, photo ids and encodings of an event's faces with after < id <= up_to, and (count, highest id)."""
    statement = select(Face.id, Face.photo_id, Face.encoding).where(Face.event_id == event_id)
    if after is not None:
        statement = statement.where(Face.id > after)
    if up_to is not None:
        statement = statement.where(Face.id <= up_to)
    face_ids, photo_ids, blobs = [], [], []
    count, highest = 0, None
    for face_id, photo_id, encoding in db.session.execute(statement.execution_options(yield_per=20_000)):
        count += 1
        highest = face_id if highest is None else max(highest, face_id)
        if encoding is None or len(encoding) != ENCODING_SIZE * 4:
            continue  # a damaged row must not break every search of the event
        face_ids.append(face_id)
        photo_ids.append(photo_id)
        blobs.append(encoding)
    encodings = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(-1, ENCODING_SIZE)
    return (np.array(face_ids, dtype=np.int64), np.array(photo_ids, dtype=np.int64), encodings,
            (count, highest))


def _load_event_index(event_id: int) -> FaceIndex:
    """Read all of an event's encodings into one FaceIndex, versioned by the rows actually read."""
    face_ids, photo_ids, encodings, version = _read_faces(event_id)
    return FaceIndex(encodings, face_ids, photo_ids, version=version)


def _with_new_faces(index: FaceIndex, event_id: int, up_to: int) -> FaceIndex:
    """A new FaceIndex of the index's faces plus the event's faces with index's highest id < id <= up_to."""
    face_ids, photo_ids, encodings, (count, highest) = _read_faces(event_id, after=index.version[1], up_to=up_to)
    return FaceIndex(
        np.concatenate([index.encodings, encodings]),
        np.concatenate([index.face_ids, face_ids]),
        np.concatenate([index.photo_ids, photo_ids]),
        version=(index.version[0] + count, index.version[1] if highest is None else highest),
    )


def _config(name: str, default):
    """An app config value when there is an app, else the default."""
    value = current_app.config.get(name) if has_app_context() else None
    return default if value in (None, "") else value


def search_thresholds() -> tuple[float, float]:
    """The (strong, maybe) thresholds: the app's FACE_STRONG/MAYBE_THRESHOLD config, else the defaults."""
    return (
        float(_config("FACE_STRONG_THRESHOLD", STRONG_THRESHOLD)),
        float(_config("FACE_MAYBE_THRESHOLD", MAYBE_THRESHOLD)),
    )


def search_event(
    event_id: int, query_encodings, strong: float | None = None, maybe: float | None = None
) -> list[FaceMatch]:
    """Search an event's photos that customers may see (approved and ready); FaceMatch list, best first."""
    default_strong, default_maybe = search_thresholds()
    matches = get_event_index(event_id).search(
        query_encodings,
        strong=default_strong if strong is None else strong,
        maybe=default_maybe if maybe is None else maybe,
    )
    visible = _visible_photo_ids(event_id, [match.photo_id for match in matches])
    return [match for match in matches if match.photo_id in visible]


def _visible_photo_ids(event_id: int, photo_ids: list[int]) -> set[int]:
    """Which of these photos are approved and ready, checked now so a rejection hides a photo at once."""
    visible: set[int] = set()
    for start in range(0, len(photo_ids), 5_000):  # stay far below the driver's bind-parameter limit
        visible.update(
            db.session.scalars(
                select(Photo.id).where(
                    Photo.id.in_(photo_ids[start:start + 5_000]),
                    Photo.event_id == event_id,
                    Photo.approval_status == ApprovalStatus.APPROVED,
                    Photo.processing_status == ProcessingStatus.READY,
                )
            )
        )
    return visible


# face_recognition switches Pillow's process-wide LOAD_TRUNCATED_IMAGES on while it imports (we switch it
# back off). Importing it lazily from a request or job thread left a window in which another thread's upload
# validation ran with the flag on and accepted a truncated file; importing here, when the app is built and
# before any thread starts, closes that window. It costs about a second of model loading per process.
_face_recognition()
