"""The whole indexing pipeline per photo, on camera-sized originals with faces: both jobs, one core.

    .venv/bin/python bench/face_pipeline.py [--faces ../shared/faces] [--photos 8]

Photos from ../shared/faces (single-person photos of at least 800 px, and the group photos) are scaled into a
24 MP frame (6000x4000), given sensor grain and saved as quality-95 JPEGs with 4:2:2 chroma, as cameras write
them (~8-12 MB). Each is then run through what its two jobs do: `imaging.process` (the images job: validation,
metadata, the four derivatives) and `tasks.faces.find_photo_faces`' work (the faces job: a clean upright
reduced-scale decode of the original, greyscale HOG at 1200 px with one upsample, an encoding per face).
Database writes (a few ms per photo) are left out. From the per-photo costs it estimates how long a
10,000-photo event takes on a 2-core machine, both jobs sharing the cores. Last line:
`images_s=X faces_s_one=Y faces_s_group=Z event_10k_min_one=A event_10k_min_group=B`.

Times are CPU time of this process pinned to one core (wall time beside it).
"""
import os

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixstock.services import faces, imaging  # noqa: E402

FRAME = (6000, 4000)


def camera_original(source: Path, target: Path, seed: int) -> None:
    """source scaled into a 24 MP frame (bars, not cropping, keep every face), with grain, saved as a camera would."""
    with Image.open(source) as image:
        picture = ImageOps.pad(ImageOps.exif_transpose(image).convert("RGB"), FRAME, Image.Resampling.BICUBIC,
                               color=(96, 110, 90))
    grain = np.random.default_rng(seed).normal(0, 3.0, size=(FRAME[1], FRAME[0], 1))
    pixels = np.clip(np.asarray(picture, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(target, "JPEG", quality=95, subsampling=1)


def index_work(path: Path) -> int:
    """What index_faces does to a photo before writing rows; returns the faces found."""
    image = imaging.load_oriented(path, faces.PHOTO_MAX_SIDE)
    found = faces.detect_faces(np.asarray(image), model="hog", upsample=1, detect_side=faces.PHOTO_DETECT_SIDE)
    return len(found)


def timed(function, *args):
    cpu, wall = time.process_time(), time.perf_counter()
    result = function(*args)
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", default=str(Path(__file__).resolve().parents[2] / "shared" / "faces"))
    parser.add_argument("--photos", type=int, default=8, help="photos of each kind")
    args = parser.parse_args()
    root = Path(args.faces)
    manifest = root / "queries.json"
    if not manifest.exists():
        sys.exit(f"no labelled photos at {root}")
    singles = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for path in sorted(directory.iterdir()):
            with Image.open(path) as image:
                if min(image.size) >= 800:
                    singles.append(path)
    groups = sorted(json.loads((root / "_group" / "labels.json").read_text())["photos"])
    groups = [root / "_group" / name for name in groups if (root / "_group" / name).exists()]
    kinds = {"one face": singles[:args.photos], "group": groups[:args.photos]}

    faces.detect_faces(np.zeros((200, 200, 3), dtype=np.uint8))  # load dlib's models before timing
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind, sources in kinds.items():
            rows = []
            for number, source in enumerate(sources):
                path = Path(folder) / f"{kind[:3]}-{number}.jpg"
                camera_original(source, path, number)
                _, images_cpu, images_wall = timed(imaging.process, path, "Bangkok Marathon 2026")
                found, faces_cpu, faces_wall = timed(index_work, path)
                rows.append((images_cpu, faces_cpu, images_wall, faces_wall, found, path.stat().st_size))
            results[kind] = rows
            images = statistics.median(r[0] for r in rows)
            indexing = statistics.median(r[1] for r in rows)
            print(f"{kind:>9}: {len(rows)} photos of {statistics.mean(r[5] for r in rows) / 1e6:.1f} MB, "
                  f"{statistics.mean(r[4] for r in rows):.1f} faces found on average")
            print(f"           images job {images * 1000:.0f} ms, faces job {indexing * 1000:.0f} ms per photo "
                  f"(CPU, medians; wall {statistics.median(r[2] for r in rows) * 1000:.0f} / "
                  f"{statistics.median(r[3] for r in rows) * 1000:.0f} ms)")

    images_s = statistics.median(r[0] for rows in results.values() for r in rows)
    one = statistics.median(r[1] for r in results["one face"])
    group = statistics.median(r[1] for r in results["group"])
    # Two cores, both jobs' workers sharing them: the event is done when all the CPU work is.
    minutes = {kind: 10_000 * (images_s + faces_s) / 2 / 60 for kind, faces_s in (("one", one), ("group", group))}
    print(f"estimate for 10,000 photos on 2 cores: {minutes['one']:.0f} min if each shows one person, "
          f"{minutes['group']:.0f} min if each is a group photo")
    print(f"images_s={images_s:.3f} faces_s_one={one:.3f} faces_s_group={group:.3f} "
          f"event_10k_min_one={minutes['one']:.0f} event_10k_min_group={minutes['group']:.0f}")


if __name__ == "__main__":
    main()
