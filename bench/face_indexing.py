"""Face indexing speed on one core: seconds per event photo at the preview size (1600 px long side).

    .venv/bin/python bench/face_indexing.py [--faces ../shared/faces]

Photos from ../shared/faces are resized to 1600 px on the long side and saved as JPEG q85 in memory, as the
preview derivative would be; each is then indexed by detect_photo_faces (decode, find faces, encode each).
Three kinds: single-person photos (one face), the group photos, and crowd mosaics (four group photos tiled
into one 1600 px frame, so faces are small, as in a crowd at a race). Each kind is also indexed the
straightforward way (colour HOG on the full 1600 px with one upsample) for the speed and the faces found.
Last line: `s_per_photo_one_face=X s_per_photo_group=Y`.

Times are the CPU time of this process, pinned to one core: what indexing costs a core, whatever else runs on
the machine (on an idle core it equals wall time, printed beside it).
"""
import os

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from PIL import Image, ImageOps  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixstock.services import faces  # noqa: E402

PREVIEW = 1600


def preview_jpeg(image: Image.Image) -> bytes:
    """The photo as the preview derivative: 1600 px on the long side, JPEG q85."""
    image = ImageOps.exif_transpose(image).convert("RGB")
    ratio = PREVIEW / max(image.size)
    image = image.resize((round(image.width * ratio), round(image.height * ratio)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def mosaic(paths: list[Path]) -> bytes:
    """Four photos tiled 2 x 2 into one 1600 x 1067 preview: a crowd of small faces."""
    canvas = Image.new("RGB", (PREVIEW, PREVIEW * 2 // 3))
    cell = (canvas.width // 2, canvas.height // 2)
    for number, path in enumerate(paths[:4]):
        with Image.open(path) as image:
            tile = ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), cell, Image.Resampling.LANCZOS)
        canvas.paste(tile, ((number % 2) * cell[0], (number // 2) * cell[1]))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def straightforward(data: bytes) -> list:
    """The seed-style indexing: colour HOG with one upsample on the whole 1600 px preview, then encode."""
    image = faces.load_face_image(data, PREVIEW)
    return faces.detect_faces(image, upsample=1)


def run(label: str, photos: list[bytes]) -> tuple[float, float]:
    """Index every photo both ways; print and return (s per photo, faces per photo) for pixstock's way."""
    results = {}
    for name, function in (("pixstock", faces.detect_photo_faces), ("colour 1600 px", straightforward)):
        started, started_wall = time.process_time(), time.perf_counter()
        found = [len(function(data)) for data in photos]
        seconds = (time.process_time() - started) / len(photos)
        wall = (time.perf_counter() - started_wall) / len(photos)
        results[name] = (seconds, wall, sum(found) / len(photos))
    seconds, wall, per_photo = results["pixstock"]
    slow_seconds, _, slow_per_photo = results["colour 1600 px"]
    print(f"{label:<34} {len(photos):>3} photos: {seconds:.3f} s/photo ({1 / seconds:.1f} photos/s per core; "
          f"wall {wall:.3f} s), {per_photo:.1f} faces/photo | colour HOG on 1600 px: {slow_seconds:.3f} s/photo, "
          f"{slow_per_photo:.1f} faces/photo")
    return seconds, per_photo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "faces")
    args = parser.parse_args()
    manifest_path = args.faces / "manifest.json"
    if not manifest_path.exists():
        print(f"skipped: {args.faces} is absent (the labelled photos live in ../shared/faces)")
        print("s_per_photo_one_face=skipped s_per_photo_group=skipped")
        return
    manifest = json.loads(manifest_path.read_text())["files"]
    print(f"one core (cpu {sorted(os.sched_getaffinity(0))}); previews {PREVIEW} px JPEG q85; "
          f"pixstock: greyscale HOG at {faces.PHOTO_DETECT_SIDE} px, one upsample, encode at {PREVIEW} px")

    singles, groups, group_paths = [], [], []
    for entry in manifest:
        path = args.faces / entry["file"]
        with Image.open(path) as image:
            # Single-person photos big enough to be a camera's photo, not a 150 px crop blown up 10 times.
            if entry["kind"] == "single" and max(image.size) >= 800:
                singles.append(preview_jpeg(image))
            elif entry["kind"] == "group":
                groups.append(preview_jpeg(image))
                group_paths.append(path)
    mosaics = [mosaic(group_paths[start:start + 4]) for start in range(0, len(group_paths) - 3, 4)]

    faces.detect_photo_faces(singles[0])  # load dlib's models once, as a warm worker would have
    one_face, _ = run("one person (photos >= 800 px)", singles)
    group, _ = run("group photos", groups)
    run("crowd mosaics (4 groups per photo)", mosaics)
    print(f"s_per_photo_one_face={one_face:.3f} s_per_photo_group={group:.3f}")


if __name__ == "__main__":
    main()
