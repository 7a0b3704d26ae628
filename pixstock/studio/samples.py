"""Sample event photos made with Pillow: the demo's gallery and the upload tests' camera files.

Each is a plausible outdoor race scene (sky, trees, a road, runners with bib numbers, sensor
grain), varied by a seed, saved as a camera would: JPEG with EXIF (make, model, lens, date taken
with its offset, exposure, ISO, focal length, optional GPS and orientation).
"""
from __future__ import annotations

import io
import random
from datetime import datetime, timedelta, timezone

import numpy as np
from PIL import ExifTags, Image, ImageDraw, ImageFilter, ImageFont

CAMERAS = [
    ("Canon", "Canon EOS R6", "RF24-105mm F4 L IS USM"),
    ("NIKON CORPORATION", "NIKON Z 6_2", "NIKKOR Z 70-200mm f/2.8 VR S"),
    ("SONY", "ILCE-7M4", "FE 24-70mm F2.8 GM II"),
    ("FUJIFILM", "X-T4", "XF16-55mmF2.8 R LM WR"),
]
BANGKOK = timezone(timedelta(hours=7))
SKIES = [((96, 150, 220), (200, 225, 245)), ((250, 170, 110), (255, 225, 170)), ((70, 110, 170), (170, 190, 215)),
         ((130, 180, 235), (235, 240, 250))]
SHIRTS = [(220, 40, 50), (30, 110, 200), (250, 200, 30), (40, 170, 90), (240, 240, 240), (150, 60, 170), (255, 120, 20)]
SKIN = [(241, 194, 160), (224, 172, 130), (198, 134, 66), (141, 85, 36), (255, 219, 172)]


def _font(size: int):
    for name in ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def scene(seed: int, size: tuple[int, int] = (2000, 1333)) -> Image.Image:
    """Draw one race scene; the same seed always gives the same picture."""
    rng = random.Random(seed)
    width, height = size
    horizon = int(height * rng.uniform(0.45, 0.6))
    top, bottom = rng.choice(SKIES)
    # Sky: a vertical gradient.
    t = np.linspace(0, 1, horizon)[:, None]
    sky = (np.array(top)[None, :] * (1 - t) + np.array(bottom)[None, :] * t)[:, None, :]
    pixels = np.empty((height, width, 3), dtype=np.float32)
    pixels[:horizon] = sky
    # Ground: asphalt fading to the foreground, with a kerb line.
    ground_t = np.linspace(0, 1, height - horizon)[:, None, None]
    asphalt = np.array([110, 110, 115]) * (1 - ground_t) + np.array([70, 70, 75]) * ground_t
    pixels[horizon:] = asphalt
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    # Clouds and trees along the horizon.
    for _ in range(rng.randint(2, 6)):
        cx, cy, r = rng.randint(0, width), rng.randint(0, horizon // 2), rng.randint(width // 20, width // 8)
        draw.ellipse((cx - r * 2, cy - r // 2, cx + r * 2, cy + r // 2), fill=(245, 245, 248))
    for x in range(-50, width + 50, max(30, width // 25)):
        r = rng.randint(width // 40, width // 18)
        green = (rng.randint(30, 60), rng.randint(90, 130), rng.randint(40, 70))
        draw.ellipse((x - r, horizon - 2 * r, x + r, horizon + r // 3), fill=green)
    draw.rectangle((0, horizon, width, horizon + height // 60), fill=(200, 200, 190))
    for x in range(0, width, width // 8):  # lane markings
        draw.polygon([(x, height - height // 12), (x + width // 16, height - height // 12),
                      (x + width // 14, height - height // 20), (x + width // 100, height - height // 20)],
                     fill=(230, 230, 230))
    image = image.filter(ImageFilter.GaussianBlur(radius=max(1, width // 600)))
    draw = ImageDraw.Draw(image)
    # Runners, far ones smaller, near ones larger.
    runners = sorted((rng.uniform(0.3, 1.0) for _ in range(rng.randint(2, 6))))
    for depth in runners:
        _runner(draw, rng, width, height, horizon, depth)
    # Sensor grain: what makes JPEGs of real photos big and derivatives honest to time.
    noise = np.random.default_rng(seed).normal(0, 6, (height, width, 1)).astype(np.float32)
    grained = (np.asarray(image, dtype=np.float32) + noise).clip(0, 255).astype(np.uint8)
    return Image.fromarray(grained, "RGB")


def _runner(draw, rng, width, height, horizon, depth):
    scale = height * 0.5 * depth
    feet_y = horizon + (height - horizon) * (0.2 + 0.75 * depth)
    x = rng.uniform(0.08, 0.92) * width
    body_h, body_w, head_r = scale * 0.32, scale * 0.13, scale * 0.07
    shirt, skin = rng.choice(SHIRTS), rng.choice(SKIN)
    hip_y = feet_y - scale * 0.45
    stride = scale * rng.uniform(0.08, 0.16)
    limb = max(2, int(scale * 0.035))
    draw.line((x, hip_y, x - stride, feet_y), fill=skin, width=limb)
    draw.line((x, hip_y, x + stride, feet_y - scale * 0.05), fill=skin, width=limb)
    draw.rectangle((x - body_w / 2, hip_y - scale * 0.04, x + body_w / 2, hip_y + scale * 0.06), fill=(30, 30, 40))
    top = hip_y - body_h
    draw.rounded_rectangle((x - body_w / 2, top, x + body_w / 2, hip_y), radius=body_w / 4, fill=shirt)
    draw.line((x - body_w / 2, top + body_h * 0.2, x - body_w, top + body_h * 0.6), fill=skin, width=limb)
    draw.line((x + body_w / 2, top + body_h * 0.2, x + body_w * 0.9, top + body_h * 0.05), fill=skin, width=limb)
    draw.ellipse((x - head_r, top - head_r * 2.1, x + head_r, top - head_r * 0.1), fill=skin)
    bib_w, bib_h = body_w * 0.7, body_h * 0.32
    bib_top = top + body_h * 0.3
    draw.rectangle((x - bib_w / 2, bib_top, x + bib_w / 2, bib_top + bib_h), fill=(250, 250, 250))
    number = str(rng.randint(100, 9999))
    draw.text((x, bib_top + bib_h / 2), number, fill=(20, 20, 20), anchor="mm",
              font=_font(max(6, int(bib_h * 0.55))))


def camera_exif(seed: int, taken_at: datetime | None = None, orientation: int = 1, gps: tuple | None = None,
                camera: tuple[str, str, str] | None = None) -> Image.Exif:
    """EXIF as a camera writes it: make, model, lens, local date taken with offset, exposure, ISO, focal length."""
    rng = random.Random(seed)
    make, model, lens = camera or rng.choice(CAMERAS)
    taken_at = (taken_at or datetime(2025, 3, 2, 5, 30, tzinfo=BANGKOK) + timedelta(seconds=seed * 7)).astimezone(BANGKOK)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = make
    exif[ExifTags.Base.Model] = model
    exif[ExifTags.Base.Software] = "pixstock samples"
    exif[ExifTags.Base.Orientation] = orientation
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    details[ExifTags.Base.OffsetTimeOriginal] = taken_at.strftime("%z")[:3] + ":" + taken_at.strftime("%z")[3:]
    details[ExifTags.Base.LensModel] = lens
    details[ExifTags.Base.ISOSpeedRatings] = rng.choice([100, 200, 400, 800, 1600])
    details[ExifTags.Base.ExposureTime] = 1 / rng.choice([250, 500, 1000, 2000])
    details[ExifTags.Base.FNumber] = rng.choice([2.8, 4.0, 5.6])
    details[ExifTags.Base.FocalLength] = float(rng.choice([35, 50, 85, 105, 200]))
    if gps:
        latitude, longitude = gps
        info = exif.get_ifd(ExifTags.IFD.GPSInfo)
        info[ExifTags.GPS.GPSLatitudeRef] = "N" if latitude >= 0 else "S"
        info[ExifTags.GPS.GPSLatitude] = _dms(abs(latitude))
        info[ExifTags.GPS.GPSLongitudeRef] = "E" if longitude >= 0 else "W"
        info[ExifTags.GPS.GPSLongitude] = _dms(abs(longitude))
    return exif


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
    return (float(degrees), float(minutes), seconds)


def sample_jpeg(seed: int, size: tuple[int, int] = (2000, 1333), quality: int = 90, orientation: int = 1,
                taken_at: datetime | None = None, gps: tuple | None = None, camera=None) -> bytes:
    """One sample photo as camera JPEG bytes.

    With an orientation other than 1 the pixels are stored turned the way a camera held sideways
    stores them, so the photo displays upright only when the orientation tag is applied.
    """
    image = scene(seed, size)
    stored = image
    if orientation != 1:
        # The inverse of what the tag asks a viewer to do: e.g. 6 = "rotate 90° clockwise to view".
        inverse = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
        stored = image.transpose(inverse[orientation])
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=quality,
                exif=camera_exif(seed, taken_at, orientation, gps, camera).tobytes())
    return buffer.getvalue()


def seed_event_photos(event, photographer, count: int, reviewer=None, progress=None) -> list[int]:
    """Upload count sample photos to event through the real ingest and processing; return the photo ids.

    Each goes through uploads.ingest_stream (validation, SHA-256, storage) and process_photo. In
    in-process mode the queues are drained here (faces too); with REDIS_URL the photos are
    processed in this process and face indexing is left to the workers. With a reviewer (an
    admin) the ready photos are approved and the first becomes the event's cover.
    """
    from flask import current_app

    from ..approval import Decision, review_photos
    from ..extensions import db
    from ..models import Photo, ProcessingStatus
    from ..tasks.images import process_photo
    from ..tasks.queue import jobs

    queues = jobs()
    # This command drains the queues itself; a worker thread racing it would still be busy at exit.
    worker_thread = current_app.config.get("JOBS_WORKER_THREAD", True)
    current_app.config["JOBS_WORKER_THREAD"] = False
    try:
        photo_ids = _ingest_samples(event, photographer, count, progress)
        if queues.in_process:
            queues.drain()
        else:
            for photo_id in photo_ids:
                process_photo(photo_id)
    finally:
        current_app.config["JOBS_WORKER_THREAD"] = worker_thread
    db.session.expire_all()
    ready = [pid for pid in photo_ids if db.session.get(Photo, pid).processing_status is ProcessingStatus.READY]
    if reviewer is not None and ready:
        review_photos(ready, reviewer, Decision.APPROVE)
        if event.cover_photo_id is None:
            event.set_cover(db.session.get(Photo, ready[0]))
            db.session.commit()
    current_app.logger.info("seeded %d demo photos, %d ready", len(photo_ids), len(ready))
    return photo_ids


def _ingest_samples(event, photographer, count: int, progress=None) -> list[int]:
    from .. import uploads
    from ..models import UploadStatus

    batch = uploads.start_batch(event, photographer, "Demo photos")
    start = datetime.combine(event.event_date or datetime.now(BANGKOK).date(), datetime.min.time(),
                             BANGKOK).replace(hour=5, minute=30)
    photo_ids = []
    for n in range(count):
        rng = random.Random(n)
        portrait = n % 5 == 3  # now and then the camera was turned
        data = sample_jpeg(
            n, size=(1334, 2000) if portrait else (2000, 1333), quality=90,
            orientation=rng.choice([6, 8]) if portrait else 1,
            taken_at=start + timedelta(seconds=n * 97 + rng.randint(0, 40)),
            gps=(13.7307 + rng.uniform(-0.004, 0.004), 100.5418 + rng.uniform(-0.004, 0.004)) if n % 3 == 0 else None,
        )
        upload = uploads.ingest_stream(batch, photographer, f"DSC_{4000 + n:05d}.JPG", io.BytesIO(data))
        if upload.status is UploadStatus.COMPLETE:
            photo_ids.append(upload.photo_id)
        if progress:
            progress(n + 1, count)
    return photo_ids
