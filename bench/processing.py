"""Image-processing benchmark: pixstock's pipeline against a naive one and the decode floor.

    .venv/bin/python bench/processing.py [--photos N] [--rounds R] [--naive-photos K] [--other-originals]

Generates realistic 24 MP (6000x4000) camera JPEGs into a temporary directory: fractal landscapes
(sky gradient, clouds, ridge line, textured ground with haze, people in the foreground, fine
detail and sensor grain), quality 95 with 4:2:2 chroma like most cameras, about 10 MB each, with
camera EXIF (make, model, lens, exposure, DateTimeOriginal with offset, orientation; every fourth
photo is a portrait shot, orientation 6). Then, in one run, on one core per process:

- pipeline: ``imaging.process`` (validation, metadata and all four derivatives: what the job runs);
- naive: full decode, each output resized from the full-size image, watermark drawn per photo;
- floor: decoding the same file at the reduced scale the pipeline uses, and nothing else;
- two worker processes sharing the photos (photos per second);
- peak memory per photo in flight (RSS high-water mark in a fresh process, after a warm-up).

Figures are medians over photos and rounds. It prints figures and never passes or fails; the
last line is machine-readable. See bench/README.md, "Image processing".
"""
from __future__ import annotations

import argparse
import io
import math
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageChops, ImageDraw, ImageFont, ImageOps
from PIL.TiffImagePlugin import IFDRational

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pixstock.services import imaging  # noqa: E402

WIDTH, HEIGHT = 6000, 4000
WATERMARK = "Bangkok Marathon 2025 · pixstock"
CAMERAS = [("Canon", "Canon EOS R6", "RF24-105mm F4 L IS USM"), ("SONY", "ILCE-7M3", "FE 70-200mm F2.8 GM OSS"),
           ("NIKON CORPORATION", "NIKON Z 6_2", "NIKKOR Z 24-70mm f/4 S"), ("FUJIFILM", "X-T4", "XF16-55mmF2.8 R LM WR")]


# --- realistic test photos ----------------------------------------------------------------------------


def _upsample(field: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.array(Image.fromarray(field, "F").resize((width, height), Image.Resampling.BICUBIC))


def _fractal(rng, width: int, height: int, cells: int, persistence: float, finest: int = 1) -> np.ndarray:
    """Multi-octave value noise: random grids doubled in resolution, each octave weaker (a 1/f-like
    spectrum, as in natural images), normalised to roughly [-1, 1]."""
    grid_w = max(2, round(cells * width / max(width, height)))
    grid_h = max(2, round(cells * height / max(width, height)))
    field = rng.random((grid_h, grid_w), dtype=np.float32) - 0.5
    amplitude = 1.0
    while width / grid_w > finest * 1.5:
        grid_w, grid_h = min(grid_w * 2, width), min(grid_h * 2, height)
        field = _upsample(field, grid_w, grid_h)
        amplitude *= persistence
        field += amplitude * (rng.random((grid_h, grid_w), dtype=np.float32) - 0.5)
    if (grid_w, grid_h) != (width, height):
        field = _upsample(field, width, height)
    return field / (3 * field.std() + 1e-6)


def landscape(seed: int, width: int = WIDTH, height: int = HEIGHT) -> Image.Image:
    """A synthetic outdoor event photo: structure at every scale, sharp edges, fine texture and grain."""
    rng = np.random.default_rng(seed)
    # Smooth, large-scale structure at quarter resolution, then enlarged (it is blurred detail anyway).
    w, h = width // 4, height // 4
    rows = (np.arange(h, dtype=np.float32) / h)[:, None]
    horizon = (0.38 + 0.15 * rng.random() + 0.12 * _fractal(rng, w, 2, 3, 0.5, finest=8)[0])[None, :]
    sky_top = np.array([30, 75, 155], np.float32) + rng.normal(0, 12, 3).astype(np.float32)
    sky_low = np.array([190, 208, 228], np.float32)
    up = np.clip(rows / horizon, 0, 1)[..., None]
    sky = sky_top * (1 - up) + sky_low * up
    cloud = np.clip(_fractal(rng, w, h, 4, 0.6) * 2.5 - 0.2, 0, 1)[..., None] * (1 - up) ** 0.4
    sky += (250 - sky) * cloud * 0.85
    depth = np.clip((rows - horizon) / (1 - horizon), 0, 1)[..., None]  # 0 at the horizon, 1 at the bottom
    mix = np.clip(_fractal(rng, w, h, 3, 0.5)[..., None] * 1.5 + 0.5, 0, 1)
    ground = np.array([55, 105, 38], np.float32) * mix + np.array([125, 98, 62], np.float32) * (1 - mix)
    ground *= 1 + _fractal(rng, w, h, 8, 0.62)[..., None] * (0.2 + 0.6 * depth)
    ground += (sky_low - ground) * (1 - depth) ** 4 * 0.7  # haze towards the horizon
    base = np.where(depth > 0, ground, sky)
    photo = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB").resize((width, height), Image.Resampling.BICUBIC)
    # People: sharp-edged shapes, larger as they come closer.
    draw = ImageDraw.Draw(photo)
    horizon_y = int(horizon.mean() * height)
    for _ in range(int(rng.integers(10, 30))):
        y = int(rng.integers(horizon_y, height))
        size = int(30 + (y - horizon_y) / (height - horizon_y) * 420)
        x = int(rng.integers(0, width))
        shirt = tuple(int(c) for c in rng.integers(20, 240, 3))
        draw.ellipse([x - size // 3, y - size, x + size // 3, y + size // 2], fill=shirt)
        draw.rectangle([x - size // 4, y + size // 2, x - size // 10, y + size], fill=(40, 40, 50))
        draw.rectangle([x + size // 10, y + size // 2, x + size // 4, y + size], fill=(40, 40, 50))
        draw.ellipse([x - size // 5, y - size - size // 2, x + size // 5, y - size + size // 8], fill=(205, 160, 125))
    # Luminance detail: mid-scale texture at half resolution and fine texture at full resolution,
    # stronger in the foreground, plus a little sensor grain.
    nearness = np.clip((np.arange(height // 2, dtype=np.float32) / (height // 2) - horizon.mean() + 0.05) * 2.5, 0.15, 1.0)[:, None]
    texture = _fractal(rng, width // 2, height // 2, 96, 0.8) * nearness * 50
    texture = np.asarray(Image.fromarray((texture + 128).clip(0, 255).astype(np.uint8), "L").resize((width, height), Image.Resampling.BICUBIC))
    detail = texture.astype(np.float32) + _fractal(rng, width, height, 1500, 0.9) * (60 * nearness.repeat(2, 0))
    detail += rng.integers(-2, 3, (height, width), dtype=np.int8)
    luminance = Image.fromarray(detail.clip(0, 255).astype(np.uint8), "L")
    return ImageChops.add(photo, Image.merge("RGB", (luminance, luminance, luminance)), 1.0, -128)


def camera_exif(seed: int) -> Image.Exif:
    make, model, lens = CAMERAS[seed % len(CAMERAS)]
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = make
    exif[ExifTags.Base.Model] = model
    exif[ExifTags.Base.Orientation] = 6 if seed % 4 == 3 else 1  # every fourth shot held upright
    exif[ExifTags.Base.Software] = "Firmware Ver.1.8.0"
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.LensModel] = lens
    details[ExifTags.Base.ISOSpeedRatings] = 100 * 2 ** (seed % 5)
    details[ExifTags.Base.ExposureTime] = IFDRational(1, 250 * (1 + seed % 4))
    details[ExifTags.Base.FNumber] = IFDRational(40 + seed % 20, 10)
    details[ExifTags.Base.FocalLength] = IFDRational(24 + 7 * seed % 80, 1)
    details[ExifTags.Base.DateTimeOriginal] = f"2025:11:23 06:{seed // 60 % 60:02d}:{seed % 60:02d}"
    details[ExifTags.Base.OffsetTimeOriginal] = "+07:00"
    return exif


def write_photo(job: tuple[int, str]) -> int:
    """Generate photo `seed` at path; return its size in bytes."""
    seed, path = job
    data = io.BytesIO()
    landscape(seed).save(data, "JPEG", quality=95, subsampling="4:2:2", exif=camera_exif(seed))
    Path(path).write_bytes(data.getvalue())
    return data.tell()


# --- the three ways of processing a photo -------------------------------------------------------------


def pixstock_pipeline(path) -> None:
    imaging.process(path, WATERMARK)


def floor(path) -> None:
    """Only the decode the pipeline does: the same DCT scale, chosen by the same rule."""
    with Image.open(path) as image:
        width, height = image.size
        scale = next(
            (s for s in (8, 4, 2)
             if math.ceil(max(width, height) / s) >= imaging.PREVIEW_SIDE * imaging.PREVIEW_MIN_FRACTION),
            1,
        )
        if scale > 1:
            image.draft("RGB", (width // scale, height // scale))
        image.load()


def naive(path) -> None:
    """What one writes first: full decode, every output from the full image, watermark drawn each time."""
    with Image.open(path) as image:
        full = ImageOps.exif_transpose(image).convert("RGB")
    outputs = {
        "square_150": ImageOps.fit(full, (150, 150), Image.Resampling.LANCZOS),
        "square_300": ImageOps.fit(full, (300, 300), Image.Resampling.LANCZOS),
        "medium": _draw_watermark(ImageOps.contain(full, (800, 600), Image.Resampling.LANCZOS), WATERMARK),
        "preview": _draw_watermark(ImageOps.contain(full, (1600, 1600), Image.Resampling.LANCZOS), WATERMARK),
    }
    for output in outputs.values():
        output.save(io.BytesIO(), "JPEG", quality=85)


def _draw_watermark(image: Image.Image, text: str) -> Image.Image:
    """The same tiled, rotated, semi-transparent text, drawn from scratch for this one image."""
    font = ImageFont.truetype("DejaVuSans-Bold.ttf", max(10, round(min(image.size) / 14)))
    side = math.ceil(math.hypot(*image.size)) + 300
    layer = Image.new("RGBA", (side, side), (255, 255, 255, 0))
    draw = ImageDraw.Draw(layer)
    step_x, step_y = int(font.getlength(text)) + 3 * font.size, 4 * font.size
    for row, y in enumerate(range(0, side, step_y)):
        for x in range(-step_x + (row % 2) * step_x // 2, side, step_x):
            draw.text((x, y), text, font=font, fill=(255, 255, 255, 107), anchor="lm",
                      stroke_width=max(1, font.size // 12), stroke_fill=(0, 0, 0, 77))
    left, top = (side - image.width) // 2, (side - image.height) // 2
    layer = layer.rotate(30, Image.Resampling.BICUBIC).crop((left, top, left + image.width, top + image.height))
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")


# --- measuring ----------------------------------------------------------------------------------------


def timed(function, path) -> float:
    start = time.perf_counter()
    function(path)
    return time.perf_counter() - start


def _warm_worker(path: str, ready=None) -> None:
    pixstock_pipeline(path)  # the font and the watermark overlays, as in a long-running worker
    if ready is not None:
        ready.put(True)


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_high_water_mark() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # sets VmHWM to the current RSS
        return True
    except OSError:
        return False


def memory_child(mode: str, first_path: str, second_path: str) -> None:
    """In a fresh process, print the RSS high-water mark above the starting RSS for a first photo
    (cold: includes loading the font and rendering the watermark overlays) and a second one (warm)."""
    function = {"pipeline": pixstock_pipeline, "naive": naive}[mode]
    deltas = []
    resettable = True
    for path in (first_path, second_path):
        before = _rss_kb("VmRSS")
        resettable &= _reset_high_water_mark()
        function(path)
        deltas.append((_rss_kb("VmHWM") - before) / 1024)
    print(f"{deltas[0]:.1f} {deltas[1]:.1f} {int(resettable)}")


def peak_memory_mb(mode: str, first_path: str, second_path: str) -> tuple[float, float, bool]:
    """(cold, warm) extra MB for one photo in flight, and whether the high-water mark could be reset."""
    result = subprocess.run(
        [sys.executable, __file__, "--memory-child", mode, first_path, second_path],
        check=True, capture_output=True, text=True,
    )
    cold, warm, resettable = result.stdout.split()
    return float(cold), float(warm), resettable == "1"


def other_originals(path: str, directory: str) -> None:
    """Time originals that miss the quarter-scale fast path: 20 MP, progressive, PNG and HEIC."""
    with Image.open(path) as image:
        image.load()
        exif = image.getexif()
        variants = {
            "20 MP JPEG 5472x3648 (half-scale decode, then resized)": ("20mp.jpg", lambda out: image.resize(
                (5472, 3648), Image.Resampling.BICUBIC).save(out, "JPEG", quality=95, subsampling="4:2:2", exif=exif)),
            "24 MP progressive JPEG": ("progressive.jpg", lambda out: image.save(
                out, "JPEG", quality=95, subsampling="4:2:2", progressive=True, exif=exif)),
            "24 MP PNG (no reduced-scale decode)": ("photo.png", lambda out: image.save(out, "PNG", compress_level=1)),
            "24 MP HEIC (no reduced-scale decode)": ("photo.heic", lambda out: image.save(out, "HEIF", quality=90)),
        }
        paths = {}
        for label, (name, save) in variants.items():
            paths[label] = str(Path(directory) / name)
            save(paths[label])
    for label, variant in paths.items():
        times = [timed(pixstock_pipeline, variant) for _ in range(3)]
        cold, warm, _ = peak_memory_mb("pipeline", variant, variant)
        print(f"  {label:56s} {1000 * statistics.median(times):7.1f} ms, peak {warm:.0f} MB warm ({cold:.0f} MB first photo)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=10, help="photos to generate (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the photos (default 3)")
    parser.add_argument("--naive-photos", type=int, default=3, help="photos timed with the slow naive path")
    parser.add_argument("--other-originals", action="store_true",
                        help="also time a 20 MP, a progressive, a PNG and a HEIC original (slow to generate)")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    if args.photos < 2:
        parser.error("--photos must be at least 2 (one warms up the memory measurement)")

    with tempfile.TemporaryDirectory(prefix="pixstock-bench-") as directory:
        paths = [str(Path(directory) / f"IMG_{seed:04d}.JPG") for seed in range(args.photos)]
        started = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(2) as pool:
            sizes = pool.map(write_photo, list(enumerate(paths)))
        print(f"generated {args.photos} photos of {WIDTH}x{HEIGHT} in {time.perf_counter() - started:.1f} s; "
              f"JPEG q95 4:2:2, {statistics.mean(sizes) / 1e6:.1f} MB on average "
              f"({min(sizes) / 1e6:.1f}-{max(sizes) / 1e6:.1f})")
        info = imaging.inspect(paths[0])
        print(f"sample: {info.camera_model}, {info.width}x{info.height}, taken {info.taken_at:%Y-%m-%d %H:%M} UTC; "
              f"outputs {', '.join(f'{n} {len(d) // 1024} KB' for n, d in imaging.build_derivatives(paths[0], WATERMARK).items())}")

        # One core: everything here is single-threaded (libjpeg decodes on one thread), so these
        # are per-core figures, as in a worker that runs one process per core.
        _warm_worker(paths[0])
        pipeline_times, floor_times = [], []
        for round_number in range(args.rounds):
            for path in paths:
                # Alternate the order so neither side always runs with a warmer cache.
                pair = [(floor, floor_times), (pixstock_pipeline, pipeline_times)]
                for function, times in pair if round_number % 2 else reversed(pair):
                    times.append(timed(function, path))
        separate_times = [timed(lambda p: (imaging.inspect(p), imaging.build_derivatives(p, WATERMARK)), path) for path in paths]
        naive_times = [timed(naive, path) for path in paths[: args.naive_photos]]

        ms = lambda seconds: 1000 * statistics.median(seconds)  # noqa: E731
        pipeline_ms, floor_ms, naive_ms = ms(pipeline_times), ms(floor_times), ms(naive_times)
        print(f"one core, median of {len(pipeline_times)} runs:")
        print(f"  pixstock pipeline (imaging.process)      {pipeline_ms:7.1f} ms/photo  "
              f"(mean {1000 * statistics.mean(pipeline_times):.1f}, min {1000 * min(pipeline_times):.1f})")
        print(f"  floor (reduced-scale decode only)        {floor_ms:7.1f} ms/photo  -> pipeline is {pipeline_ms / floor_ms:.2f}x the floor")
        print(f"  naive (full decode, {len(naive_times)} photos)             {naive_ms:7.1f} ms/photo  -> pipeline is {naive_ms / pipeline_ms:.1f}x faster")
        print(f"  inspect() then build_derivatives()       {ms(separate_times):7.1f} ms/photo  (two decodes; the job uses process())")

        # Two worker processes, one per core, sharing the photos as a queue would.
        context = multiprocessing.get_context("fork")
        ready = context.Queue()
        with context.Pool(2, initializer=_warm_worker, initargs=(paths[0], ready)) as pool:
            ready.get(), ready.get()  # both workers are up and warm before the clock starts
            jobs = paths * args.rounds
            started = time.perf_counter()
            for _ in pool.imap_unordered(pixstock_pipeline, jobs):
                pass
            elapsed = time.perf_counter() - started
        per_second = len(jobs) / elapsed
        print(f"two worker processes: {len(jobs)} photos in {elapsed:.2f} s = {per_second:.1f} photos/s")

        # The first photo in a fresh worker is the conservative figure: it also pays for the font
        # and the cached watermark overlays (~9 MB for a 3:2 preview and medium).
        peak_mb, warm_mb, resettable = peak_memory_mb("pipeline", paths[0], paths[1])
        naive_peak_mb, _, _ = peak_memory_mb("naive", paths[0], paths[1])
        note = "" if resettable else " (high-water mark not resettable here: figures include start-up)"
        print(f"peak extra memory, one photo in flight (RSS high-water mark over the process's RSS before it): "
              f"pipeline {peak_mb:.1f} MB for a worker's first photo, {warm_mb:.1f} MB once warm; "
              f"naive {naive_peak_mb:.1f} MB{note}")
        if args.other_originals:
            print("other originals, one core (median of 3):")
            other_originals(paths[0], directory)
        print(
            f"ms_per_photo={pipeline_ms:.1f} naive_ms_per_photo={naive_ms:.1f} floor_ms_per_photo={floor_ms:.1f} "
            f"peak_mb={peak_mb:.1f} warm_peak_mb={warm_mb:.1f} floor_ratio={pipeline_ms / floor_ms:.2f} speedup={naive_ms / pipeline_ms:.1f} "
            f"two_process_photos_per_s={per_second:.1f} naive_peak_mb={naive_peak_mb:.1f}"
        )


if __name__ == "__main__":
    main()
