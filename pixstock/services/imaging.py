"""Image processing: validate an upload, read its metadata, build the derivatives customers see.

Photographers upload thousands of 24 MP JPEGs per event, so the derivative path is built for speed
(figures in bench/README.md, "Image processing"):

- Each original is decoded once, at reduced scale: libjpeg's DCT scaling (``Image.draft``) yields a
  1/2, 1/4 or 1/8 size image for little more than the cost of reading the compressed data. A 6000x4000
  photo decodes straight to 1500x1000, which becomes the preview.
- The largest derivative is made first and each smaller one from the previous one.
- The watermark is rendered once per (text, output size) into a cached overlay and pasted through
  its mask in one pass.

Everything a customer can download is re-encoded without EXIF, GPS, XMP or ICC data: pixels are
converted to sRGB first, so dropping the profile loses nothing.

Typical use in a job::

    info, derivatives = process(path, watermark_text=event.name)   # raises ImageRejected

``inspect`` and ``build_derivatives`` do the two halves separately; ``process`` shares one open and
one decode between them, and its decode is the truncation check.
"""
from __future__ import annotations

import functools
import io
import logging
import math
import os
import re
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import numpy as np
import pillow_heif
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageDraw, ImageFile, ImageFont

log = logging.getLogger(__name__)

# Thumbnails, depth maps and auxiliary images inside a HEIC are never used: don't decode them.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

DEFAULT_TZ = ZoneInfo("Asia/Bangkok")
# Enough of a file's start for sniff() to see an ISO-BMFF (HEIC) box's compatible brands.
SNIFF_BYTES = 64

PREVIEW_SIDE = 1600
# A preview may be up to 10 % smaller than PREVIEW_SIDE when that lets the JPEG decode at the next
# smaller DCT scale: a 6000x4000 original then decodes at 1/4 (1500x1000) instead of 1/2 (3000x2000),
# which saves the big resize and about a tenth of the decode.
PREVIEW_MIN_FRACTION = 0.9
MEDIUM_BOX = (800, 600)
SQUARE_SIDES = {"square_300": 300, "square_150": 150}
# Customers can save anything shown at medium size or larger, so those carry the watermark;
# the square thumbnails are too small to be worth protecting.
WATERMARKED = ("preview", "medium")
JPEG_QUALITY = 85

WATERMARK_ANGLE = 30  # degrees, counter-clockwise
WATERMARK_TEXT_OPACITY = 0.42  # white text
WATERMARK_SHADOW_OPACITY = 0.30  # dark outline under it, so the text shows on white too
WATERMARK_LOGO_OPACITY = 0.70
# First font found wins; Pillow's built-in font is the fallback. Neither has Thai glyphs (Thai text came out
# as boxes), so text with Thai letters goes to a Thai font first: Debian's fonts-tlwg-garuda-ttf (`make install`
# adds it), whose Garuda and Loma carry Latin letters too; Pillow's bundled raqm shapes the vowels and tones.
WATERMARK_FONTS = ["DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf"]
THAI_WATERMARK_FONTS = ["Garuda-Bold.ttf", "Loma-Bold.ttf", "NotoSansThai-Bold.ttf"]

# Content type -> the Pillow format allowed to open it, so a file is parsed by exactly one decoder.
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/heic": "HEIF", "image/heif": "HEIF"}
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
# Pillow opens camera JPEGs that carry a second, preview image (MPF) as "MPO"; both decode with libjpeg.
_JPEG_FORMATS = ("JPEG", "MPO")

# Decoders report bad input through many exception types; all of them mean "not a usable image".
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, RuntimeError)
# The limit when someone sets Image.MAX_IMAGE_PIXELS = None: twice Pillow's default, ~179 MP.
_FALLBACK_MAX_PIXELS = 2 * 89_478_485

EMPTY = "The file is empty."
NOT_AN_IMAGE = "This is not an image pixstock can read (JPEG, PNG, WebP or HEIC)."
CORRUPT = "The image is truncated or corrupt."


class ImageRejected(ValueError):
    """An upload that is not an image pixstock accepts; ``reason`` is fit to show the photographer."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageInfo:
    """What inspect() learns about an original; width and height are as displayed (EXIF orientation applied)."""

    content_type: str
    width: int
    height: int
    # JSON-serialisable; location sits under "gps" alone so the app can drop or hide it in one place.
    metadata: dict = field(default_factory=dict)
    taken_at: datetime | None = None  # aware, UTC
    camera_model: str | None = None


def sniff(head: bytes) -> str | None:
    """Return the content type the file's first bytes show (JPEG, PNG, WebP, HEIC/HEIF), or None."""
    if head[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        # ISO-BMFF: major brand, minor version, then compatible brands up to the box's end.
        box_end = min(int.from_bytes(head[:4], "big"), len(head))
        brands = {head[8:12]} | {head[i:i + 4] for i in range(16, box_end - 3, 4)}
        if brands & _HEIC_BRANDS:
            return "image/heic"
        if brands & _AVIF_BRANDS:
            return None  # AVIF shares the mif1 brand, but pillow_heif is built without an AV1 decoder
        if brands & _HEIF_BRANDS:
            return "image/heif"
    return None


def inspect(path, default_tz: tzinfo | str = DEFAULT_TZ) -> ImageInfo:
    """Validate the file at path fully (including a decode) and return its size and metadata."""
    with _open(path) as (content_type, image):
        info = _info(content_type, image, default_tz)
        if image.format in _JPEG_FORMATS:
            # The cheapest decode that still reads every byte of the compressed data: 1/8 scale.
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
        _load(image)
    return info


def build_derivatives(path, watermark_text: str, logo_path=None) -> dict[str, bytes]:
    """Return the JPEG derivatives of the image at path: square_150, square_300, medium, preview."""
    _, oriented = _read(path, PREVIEW_SIDE)
    return _render(oriented, watermark_text, logo_path)


def process(
    path, watermark_text: str, logo_path=None, default_tz: tzinfo | str = DEFAULT_TZ
) -> tuple[ImageInfo, dict[str, bytes]]:
    """inspect() and build_derivatives() in one pass: one open, one reduced-scale decode."""
    info, oriented = _read(path, PREVIEW_SIDE, default_tz)
    return info, _render(oriented, watermark_text, logo_path)


def load_oriented(path, max_side: int = PREVIEW_SIDE) -> Image.Image:
    """Decode the image at reduced scale as RGB with EXIF orientation applied, long side about max_side.

    The long side lies between 0.9 * max_side and max_side (or is the original's, if smaller); map
    coordinates back to the original with ``info.width / image.width``. Faces are found on this image.
    """
    return _read(path, max_side)[1]


def _read(path, max_side: int, default_tz: tzinfo | str = DEFAULT_TZ) -> tuple[ImageInfo, Image.Image]:
    """Open, validate and decode once. Returning lets go of the decoded image the preview was shrunk
    from (20 MB for a 20 MP original's half-scale decode) before the derivatives are built."""
    with _open(path) as (content_type, image):
        info = _info(content_type, image, default_tz)
        return info, _decode(image, max_side, _orientation(_exif(image)))


# --- opening and validation -------------------------------------------------------------------------


@contextmanager
def _open(path) -> Iterator[tuple[str, ImageFile.ImageFile]]:
    """Yield (content type, lazily opened image) after the checks that need no pixel data."""
    with open(path, "rb") as fp:
        head = fp.read(SNIFF_BYTES)
        if not head:
            raise ImageRejected(EMPTY)
        # The magic bytes decide; the file name and the browser's content type are never trusted.
        content_type = sniff(head)
        if content_type is None:
            raise ImageRejected(NOT_AN_IMAGE)
        fp.seek(0)
        try:
            with warnings.catch_warnings():
                # Pillow only warns between MAX_IMAGE_PIXELS and twice that; refuse those too.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(fp, formats=[_PIL_FORMATS[content_type]])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageRejected(_too_large_reason(_pixels_in_message(str(error)))) from None
        except _DECODE_ERRORS as error:  # UnidentifiedImageError is an OSError
            # The magic bytes matched, so the header itself is damaged or cut short.
            raise ImageRejected(CORRUPT) from error
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageRejected(CORRUPT)
        # Checked here as well, before any pixel is decoded: the warnings filter above is
        # process-global and another thread may reset it, and MAX_IMAGE_PIXELS may be None.
        if width * height > _max_pixels():
            raise ImageRejected(_too_large_reason(width * height))
        # Not image.close(): that would also discard decoded pixels the caller keeps. Closing
        # our file is enough; a loaded image no longer needs it.
        yield content_type, image


def _max_pixels() -> int:
    return Image.MAX_IMAGE_PIXELS or _FALLBACK_MAX_PIXELS


def _pixels_in_message(message: str) -> int | None:
    match = re.search(r"\((\d+) pixels\)", message)
    return int(match.group(1)) if match else None


def _too_large_reason(pixels: int | None) -> str:
    limit = f"the limit is {_max_pixels() / 1e6:.0f}"
    if pixels is None:
        return f"The image is too large ({limit} megapixels)."
    return f"The image is too large ({pixels / 1e6:.0f} megapixels; {limit})."


def _load(image: Image.Image) -> None:
    """Decode the pixels, turning any decoder failure into ImageRejected."""
    # With this flag on, Pillow pads a cut-off file with grey and reports success, so a half-uploaded
    # photo would go on sale. It is process-global; refuse to work rather than accept such files.
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; pixstock needs it off to reject truncated uploads")
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(_too_large_reason(image.width * image.height)) from None
    except _DECODE_ERRORS as error:
        raise ImageRejected(CORRUPT) from error


# --- metadata -----------------------------------------------------------------------------------------

_TAG = ExifTags.Base
_GPS = ExifTags.GPS
_ORIENTATION_SWAPS_SIDES = {5, 6, 7, 8}
# EXIF orientation -> the transpose that displays it upright; the table ImageOps.exif_transpose uses.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_DATE = re.compile(r"\s*(\d{4})[:-](\d\d)[:-](\d\d)[ T](\d\d):(\d\d)(?::(\d\d))?")
_EXIF_OFFSET = re.compile(r"\s*([+-])(\d\d):?(\d\d)\s*$")


def _exif(image: Image.Image) -> Image.Exif:
    """Return the image's EXIF; a malformed block reads as empty rather than rejecting the photo."""
    if image.format == "PNG" and "exif" not in image.info:
        # An eXIf chunk may follow the pixel data, so Pillow decodes the whole PNG to look for it.
        # Do that here, where a broken file is rejected, not silently read as "no EXIF".
        _load(image)
    try:
        return image.getexif()
    except _DECODE_ERRORS:
        return Image.Exif()


def _orientation(exif: Image.Exif) -> int:
    # pillow_heif applies a HEIC's rotation itself and reports orientation 1, so this is right for HEIC too.
    value = exif.get(_TAG.Orientation, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _info(content_type: str, image: Image.Image, default_tz: tzinfo | str) -> ImageInfo:
    exif = _exif(image)
    width, height = image.size
    if _orientation(exif) in _ORIENTATION_SWAPS_SIDES:
        width, height = height, width
    metadata, taken_at = _metadata(exif, ZoneInfo(default_tz) if isinstance(default_tz, str) else default_tz)
    return ImageInfo(
        content_type=content_type,
        width=width,
        height=height,
        metadata=metadata,
        taken_at=taken_at,
        camera_model=_camera_model(metadata.get("make"), metadata.get("model")),
    )


def _metadata(exif: Image.Exif, default_tz: tzinfo) -> tuple[dict, datetime | None]:
    """Return (JSON-serialisable metadata, taken_at in UTC) from EXIF; absent or broken fields are left out."""
    try:
        details = exif.get_ifd(ExifTags.IFD.Exif)
        gps_ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except _DECODE_ERRORS:
        details, gps_ifd = {}, {}
    metadata: dict = {}
    for key, value in (
        ("make", _text(exif.get(_TAG.Make))),
        ("model", _text(exif.get(_TAG.Model))),
        ("lens", _text(details.get(_TAG.LensModel))),
        ("iso", _iso(details.get(_TAG.ISOSpeedRatings))),
        ("exposure_time", _positive(details.get(_TAG.ExposureTime), 6)),  # seconds
        ("f_number", _positive(details.get(_TAG.FNumber), 1)),
        ("focal_length", _positive(details.get(_TAG.FocalLength), 1)),  # mm
        ("focal_length_35mm", _iso(details.get(_TAG.FocalLengthIn35mmFilm))),
    ):
        if value is not None:
            metadata[key] = value
    # DateTimeOriginal is when the shutter fired; DateTime (IFD0) changes whenever software edits
    # the file, so it is never used. Digitized is the fallback some phones fill in instead.
    local = _exif_datetime(
        details.get(_TAG.DateTimeOriginal), details.get(_TAG.OffsetTimeOriginal),
        details.get(_TAG.SubsecTimeOriginal), default_tz,
    ) or _exif_datetime(
        details.get(_TAG.DateTimeDigitized), details.get(_TAG.OffsetTimeDigitized),
        details.get(_TAG.SubsecTimeDigitized), default_tz,
    )
    if local is not None:
        metadata["taken_at"] = local.isoformat()  # local time with its offset, for display
    gps = _gps(gps_ifd)
    if gps:
        metadata["gps"] = gps
    return metadata, local.astimezone(timezone.utc) if local else None


def _text(value, limit: int = 120) -> str | None:
    """EXIF strings come NUL- and space-padded, sometimes as bytes; return clean text or None."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = "".join(ch for ch in value.split("\x00", 1)[0] if ch.isprintable()).strip()
    return value[:limit] or None


def _number(value) -> float | None:
    if isinstance(value, (tuple, list)):  # some writers store one-element arrays
        value = value[0] if value else None
    try:
        number = float(value)  # IFDRational, int or float
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None  # IFDRational with denominator 0 is nan


def _positive(value, digits: int) -> float | None:
    number = _number(value)
    return round(number, digits) if number is not None and number > 0 else None


def _iso(value) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number > 0 else None


def _exif_datetime(value, offset, subsec, default_tz: tzinfo) -> datetime | None:
    """Parse EXIF "YYYY:MM:DD HH:MM:SS" plus optional offset "+07:00" into an aware datetime."""
    text = _text(value)
    match = _EXIF_DATE.match(text) if text else None
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
    fraction = _text(subsec)
    microsecond = int(fraction[:6].ljust(6, "0")) if fraction and fraction.isdigit() else 0
    try:
        naive = datetime(year, month, day, hour, minute, second, microsecond)
    except ValueError:  # "0000:00:00 00:00:00" and friends mean "unknown"
        return None
    offset_text = _text(offset)
    offset_match = _EXIF_OFFSET.match(offset_text) if offset_text else None
    if offset_match:
        sign, hours, minutes = offset_match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta <= timedelta(hours=14):
            return naive.replace(tzinfo=timezone(-delta if sign == "-" else delta))
    # No offset recorded: cameras keep local time, and the event's local time is the best guess.
    return naive.replace(tzinfo=default_tz)


def _gps(gps_ifd: dict) -> dict | None:
    latitude = _gps_degrees(gps_ifd.get(_GPS.GPSLatitude), gps_ifd.get(_GPS.GPSLatitudeRef), "S")
    longitude = _gps_degrees(gps_ifd.get(_GPS.GPSLongitude), gps_ifd.get(_GPS.GPSLongitudeRef), "W")
    if latitude is None or longitude is None or abs(latitude) > 90 or abs(longitude) > 180:
        return None
    if latitude == 0 and longitude == 0:
        return None  # what some cameras write when they have no fix
    gps = {"latitude": round(latitude, 7), "longitude": round(longitude, 7)}
    altitude = _number(gps_ifd.get(_GPS.GPSAltitude))
    if altitude is not None:
        below = gps_ifd.get(_GPS.GPSAltitudeRef) in (1, b"\x01")
        gps["altitude"] = round(-altitude if below else altitude, 1)
    return gps


def _gps_degrees(value, ref, negative_ref: str) -> float | None:
    if not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 3:
        return None
    parts = [_number(part) for part in value]
    if any(part is None or part < 0 for part in parts):
        return None
    degrees = sum(part / 60**i for i, part in enumerate(parts))
    return -degrees if _text(ref) == negative_ref else degrees


def _camera_model(make: str | None, model: str | None) -> str | None:
    """"Canon EOS R6" stays as is; Sony's "ILCE-7M4" becomes "SONY ILCE-7M4"."""
    if not model:
        return make
    if not make or model.lower().startswith(make.split()[0].lower()):
        return model
    return f"{make} {model}"[:120]


# --- decoding -----------------------------------------------------------------------------------------


def _decode(image: ImageFile.ImageFile, max_side: int, orientation: int = 1) -> Image.Image:
    """Decode once at reduced scale; return RGB (sRGB), upright, long side within [0.9, 1] * max_side.

    Originals smaller than that come back at their own size, never enlarged.
    """
    icc_profile = image.info.get("icc_profile")
    width, height = image.size
    if image.format in _JPEG_FORMATS:
        scale = next(
            (s for s in (8, 4, 2) if math.ceil(max(width, height) / s) >= max_side * PREVIEW_MIN_FRACTION),
            1,
        )
        if scale > 1:
            # The exact aspect-correct box, before anything loads the pixels: draft() picks the
            # largest DCT scale whose result still covers the box, which for this box is `scale`.
            image.draft("RGB", (max(1, width // scale), max(1, height // scale)))
    _load(image)
    picture: Image.Image = image
    if max(picture.size) > max_side and picture.mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        # Shrink before converting so the conversions touch few pixels; Pillow resamples alpha
        # premultiplied, so transparent areas don't bleed their hidden colour.
        picture = _shrink(picture, max_side)
    picture = _to_srgb(picture, icc_profile)
    if max(picture.size) > max_side:  # modes that had to be converted at full size first
        picture = _shrink(picture, max_side)
    if orientation in _TRANSPOSE:
        picture = picture.transpose(_TRANSPOSE[orientation])
    picture.info = {}  # nothing from the original (EXIF, ICC, XMP, comments) travels further
    return picture


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    # Bicubic, not Lanczos: as sharp to the eye at these ratios, in two thirds of the time (a 20 MP
    # original's half-scale decode, 2736 px, is the common case). reducing_gap box-averages first
    # when a non-JPEG original is many times the target.
    return image.resize(_fit_size(image.size, (max_side, max_side)), Image.Resampling.BICUBIC, reducing_gap=3.0)


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Return an RGB image in sRGB: alpha flattened onto white, 16-bit scaled, CMYK and ICC converted."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # Pillow's I -> L conversion clips instead of scaling; 16-bit greyscale PNGs need the scale.
        image = image.point(lambda value: value / 256, "F").convert("L")
    if image.mode == "P":
        image = image.convert("RGBA")  # its transparency, if any, becomes alpha
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent areas would turn black (or whatever colour they hide); photos sit on white.
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    if icc_profile and image.mode in ("RGB", "CMYK"):
        transform = _srgb_transform(icc_profile, image.mode)
        if transform is not None:
            return ImageCms.applyTransform(image, transform)
    return image if image.mode == "RGB" else image.convert("RGB")


@functools.lru_cache(maxsize=16)
def _srgb_transform(icc_profile: bytes, mode: str):
    """A cached transform from the embedded profile to sRGB, or None if it is sRGB already or unusable."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if mode == "RGB" and "srgb" in ImageCms.getProfileDescription(source).lower():
            return None  # the common case: nothing to do
        return ImageCms.buildTransform(
            source, ImageCms.createProfile("sRGB"), mode, "RGB", ImageCms.Intent.PERCEPTUAL
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a broken profile: treat the pixels as sRGB, as browsers do


# --- derivatives --------------------------------------------------------------------------------------


def _fit_size(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The size that fits inside box keeping the aspect ratio, never larger than size."""
    width, height = size
    ratio = min(box[0] / width, box[1] / height, 1.0)
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def _fit(image: Image.Image, box: tuple[int, int], resample=Image.Resampling.LANCZOS) -> Image.Image:
    size = _fit_size(image.size, box)
    return image if size == image.size else image.resize(size, resample)


def _square(image: Image.Image, side: int) -> Image.Image:
    """Centre crop to a square and scale it to side x side (enlarging only originals smaller than side)."""
    width, height = image.size
    crop = min(width, height)
    left, top = (width - crop) // 2, (height - crop) // 2
    return image.resize((side, side), Image.Resampling.HAMMING, box=(left, top, left + crop, top + crop))


def _render(oriented: Image.Image, watermark_text: str, logo_path) -> dict[str, bytes]:
    """Build the derivatives from the decoded image (which it consumes), largest first, each from the one before."""
    preview = _fit(oriented, (PREVIEW_SIDE, PREVIEW_SIDE))
    # HAMMING: sharper than bilinear at the same cost, half the time of Lanczos for a 2x step.
    medium = _fit(preview, MEDIUM_BOX, Image.Resampling.HAMMING)
    if medium is preview:  # a small original: the same pixels, but each output gets its own watermark
        medium = preview.copy()
    images = {"preview": preview, "medium": medium}
    source = medium
    for name, side in sorted(SQUARE_SIDES.items(), key=lambda item: -item[1]):
        if min(source.size) < side:  # a panorama's medium is too short for a 300 px square
            source = preview
        images[name] = _square(source, side)
        source = images[name]
    # Watermark last, in place: the clean pixels were needed only for the squares. (Copies of
    # fresh 6 MB images cost ~3 ms each in page faults, as much as the paste itself.)
    logo_key = _logo_key(logo_path)
    for name in WATERMARKED:
        _watermark(images[name], watermark_text, logo_key)
    return {name: _jpeg(images[name]) for name in ("square_150", "square_300", "medium", "preview")}


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # Baseline, not progressive: progressive costs ~30 ms more per preview for ~7 % fewer bytes.
    # No exif=, icc_profile= or xmp= arguments, so the file carries pixels only.
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


# --- watermark ----------------------------------------------------------------------------------------


def _logo_key(logo_path) -> tuple[str, int, int] | None:
    """Identify the logo file by path and version, so an edited logo is not served from the cache."""
    if logo_path is None:
        return None
    stat = os.stat(logo_path)
    return os.fspath(logo_path), stat.st_mtime_ns, stat.st_size


def _watermark(image: Image.Image, text: str, logo_key) -> None:
    """Paste the watermark onto image, in place, through the cached overlay for its size."""
    overlay, mask = _watermark_overlay(text.strip() or "pixstock", image.size, logo_key)
    image.paste(overlay, (0, 0), mask)  # one pass: ~4 ms for a 1500x1000 preview


@functools.lru_cache(maxsize=6)
def _watermark_overlay(text: str, size: tuple[int, int], logo_key) -> tuple[Image.Image, Image.Image]:
    """Render the tiled, rotated text (and the logo) once per (text, size) as an RGB overlay and its mask.

    Drawing the watermark per photo costs ~165 ms; pasting through this costs a few. About 7.5 MB
    per cached preview size.
    """
    font_size = max(10, round(min(size) / 14))
    font = _font(font_size, thai=has_thai(text))
    # A dark outline under white text, so the watermark shows on white shirts and dark hair alike.
    shadow = _rotated_text(text, size, font, stroke=max(1, font_size // 12))
    shadow = shadow.point(lambda value: round(value * WATERMARK_SHADOW_OPACITY))
    light = _rotated_text(text, size, font, stroke=0).point(lambda value: round(value * WATERMARK_TEXT_OPACITY))
    # Pasting black through `shadow` then white through `light` equals pasting, once, grey level
    # 255 * light / alpha through alpha = 1 - (1 - shadow) * (1 - light) (values as fractions).
    alpha = ImageChops.invert(ImageChops.multiply(ImageChops.invert(shadow), ImageChops.invert(light)))
    light16, alpha16 = np.asarray(light, np.uint16), np.asarray(alpha, np.uint16)
    grey = Image.fromarray(((light16 * 255 + alpha16 // 2) // np.maximum(alpha16, 1)).astype(np.uint8), "L")
    overlay = Image.merge("RGB", (grey, grey, grey))
    if logo_key is not None:
        logo, position = _logo_layer(logo_key[0], size)
        box = (*position, position[0] + logo.width, position[1] + logo.height)
        corner = overlay.crop(box)
        corner.putalpha(alpha.crop(box))
        corner.alpha_composite(logo)
        overlay.paste(corner.convert("RGB"), box)
        alpha.paste(corner.getchannel("A"), box)
    return overlay, alpha


def _rotated_text(text: str, size: tuple[int, int], font, stroke: int) -> Image.Image:
    """An L mask of the text tiled in staggered rows, rotated by WATERMARK_ANGLE, cut to size."""
    width, height = size
    step_x = max(1, math.ceil(font.getlength(text))) + font.size * 3
    step_y = font.size * 4
    # Draw on a square that covers the output at any angle, rotate it, cut out the middle.
    side = math.ceil(math.hypot(width, height)) + step_y
    canvas = Image.new("L", (side, side))
    draw = ImageDraw.Draw(canvas)
    for row, y in enumerate(range(0, side + step_y, step_y)):
        for x in range(-step_x + (row % 2) * step_x // 2, side, step_x):
            draw.text((x, y), text, fill=255, font=font, anchor="lm", stroke_width=stroke, stroke_fill=255)
    left, top = (side - width) // 2, (side - height) // 2
    return canvas.rotate(WATERMARK_ANGLE, Image.Resampling.BICUBIC).crop((left, top, left + width, top + height))


def _logo_layer(logo_path, size: tuple[int, int]) -> tuple[Image.Image, tuple[int, int]]:
    """Return the logo as RGBA at its watermark opacity, and its bottom-right position."""
    width, height = size
    with Image.open(logo_path) as logo:
        logo = _rgba(logo)
    logo.thumbnail((max(1, width // 5), max(1, height // 6)), Image.Resampling.LANCZOS)
    logo.putalpha(logo.getchannel("A").point(lambda value: round(value * WATERMARK_LOGO_OPACITY)))
    margin = max(4, min(width, height) // 40)
    return logo, (max(0, width - logo.width - margin), max(0, height - logo.height - margin))


def _rgba(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = _to_srgb(image, None)
    return image.convert("RGBA")


def has_thai(text: str) -> bool:
    """Whether text has letters of the Thai block (U+0E00 to U+0E7F)."""
    return any("\u0e00" <= char <= "\u0e7f" for char in text)


@functools.lru_cache(maxsize=8)
def _font(size: int, thai: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    names = THAI_WATERMARK_FONTS + WATERMARK_FONTS if thai else WATERMARK_FONTS
    for name in names:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            if thai and name == THAI_WATERMARK_FONTS[-1]:
                log.warning("no Thai font for watermarks (install fonts-tlwg-garuda-ttf): Thai shows as boxes")
            continue
    return ImageFont.load_default(size)
