"""Selfie search speed on one core: FaceIndex against the seed's row-by-row loop, and a whole selfie request.

    .venv/bin/python bench/face_search.py [--faces ../shared/faces]

Matching is timed at 10,000, 100,000 and 600,000 synthetic faces (random encodings with the norm of real
dlib encodings, plus a few planted near-duplicates of the selfie so results are built as in real searches).
The seed's approach calls face_recognition.face_distance once per stored face in a Python loop; above
20,000 faces that loop is timed on the first 20,000 and extrapolated linearly (printed as such). The request
is the real path: read a multi-megapixel photo from ../shared/faces, encode_selfie (decode, detect,
encode), then search 600,000 faces. Last line: `match_ms_600k=X loop_ms_600k=Y request_ms=Z`.

Times are the CPU time of this process, pinned to one core: what the work costs a core, whatever else runs on
the machine (on an idle core it equals wall time; the request's wall time is printed beside it).
"""
import os

# One core and one BLAS thread, set before numpy loads, so the figures are per core and comparable.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixstock.services import faces  # noqa: E402

SIZES = (10_000, 100_000, 600_000)
LOOP_SAMPLE = 20_000
REAL_NORM = 1.44  # mean norm of dlib encodings on ../shared/faces (sd 0.07)
# The largest photo of the labelled set (3061 x 4600 JPEG, 1.2 MB), standing in for a phone selfie.
SELFIE_FILE = "deepface_p03/3.jpg"


def synthetic_encodings(count: int, rng: np.random.Generator) -> np.ndarray:
    """Random encodings shaped like real ones: spread over the sphere of the real norm."""
    matrix = rng.standard_normal((count, faces.ENCODING_SIZE), dtype=np.float32)
    matrix *= (REAL_NORM / np.linalg.norm(matrix, axis=1))[:, None]
    return matrix


clock = time.process_time  # CPU seconds of this process (see the docstring)


def timed(function, repeat: int) -> tuple[float, float]:
    """Median and best CPU time of repeated calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = clock()
        function()
        times.append((clock() - started) * 1000)
    return statistics.median(times), min(times)


def seed_loop(rows, selfie, maybe) -> list:
    """The seed's search: one face_distance call per stored face."""
    face_recognition = faces._face_recognition()
    found = []
    for row in rows:
        distance = face_recognition.face_distance([row], selfie)[0]
        if distance <= maybe:
            found.append(distance)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "faces")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    print(f"one core (cpu {sorted(os.sched_getaffinity(0))}), OPENBLAS_NUM_THREADS=1")

    largest = synthetic_encodings(max(SIZES), rng)
    selfies = synthetic_encodings(3, rng)
    # Plant 40 photos of the selfie's person (noise of a typical same-person distance, ~0.4).
    planted = rng.choice(max(SIZES), 40, replace=False)
    largest[planted] = selfies[0] + rng.normal(0, 0.035, (40, faces.ENCODING_SIZE)).astype(np.float32)

    match_ms = loop_ms = None
    for count in SIZES:
        matrix = largest[:count]
        started = clock()
        index = faces.FaceIndex(matrix, np.arange(count), np.arange(count) // 12)  # ~12 faces per photo
        build_ms = (clock() - started) * 1000
        repeat = 30 if count <= 100_000 else 15
        one, one_best = timed(lambda: index.search(selfies[:1]), repeat)
        three, three_best = timed(lambda: index.search(selfies), repeat)
        matches = len(index.search(selfies[:1]))
        sample = min(count, LOOP_SAMPLE)
        rows = list(matrix[:sample])
        loop, _ = timed(lambda: seed_loop(rows, selfies[0], faces.MAYBE_THRESHOLD), 1 if sample > 10_000 else 3)
        loop *= count / sample
        note = f" (timed on {sample:,} rows, extrapolated)" if sample < count else ""
        print(f"{count:>9,} faces: FaceIndex 1 selfie {one:6.1f} ms (best {one_best:.1f}), 3 selfies {three:6.1f} ms "
              f"(best {three_best:.1f}), {matches} photos found; seed loop {loop:,.0f} ms{note}; "
              f"index built in {build_ms:.0f} ms, {matrix.nbytes / 1e6:.0f} MB")
        if count == 600_000:
            match_ms, loop_ms = one, loop

    request_ms = None
    selfie_path = args.faces / SELFIE_FILE
    if not selfie_path.exists():
        print(f"request: skipped, {selfie_path} is absent (the labelled photos live in ../shared/faces)")
    else:
        data = selfie_path.read_bytes()
        faces.encode_selfie(data)  # load dlib's models once, as a warm worker would have
        with faces.Image.open(selfie_path) as image:
            print(f"request: {SELFIE_FILE}, {image.width}x{image.height} {image.format}, {len(data) / 1e6:.1f} MB, "
                  f"against {len(index):,} faces")
        # Where the time goes, step by step (the same steps encode_selfie takes).
        steps = {"decode": [], "detect": [], "encode": [], "match": []}
        for _ in range(5):
            started = clock()
            image = faces.load_face_image(data, faces.SELFIE_MAX_SIDE)
            decoded = clock()
            boxes = faces.find_face_boxes(image.pixels, detect_side=faces.SELFIE_DETECT_SIDE)
            detected = clock()
            found = faces.encode_faces(image.pixels, boxes[:1])
            encoded = clock()
            index.search([found[0].encoding])
            matched = clock()
            for name, start, end in (("decode", started, decoded), ("detect", decoded, detected),
                                     ("encode", detected, encoded), ("match", encoded, matched)):
                steps[name].append((end - start) * 1000)
        parts = ", ".join(f"{name} {statistics.median(values):.0f}" for name, values in steps.items())
        # The whole request through the public functions the app calls.
        walls = []
        for _ in range(5):
            started = time.perf_counter()
            index.search([faces.encode_selfie(data)[0].encoding])
            walls.append((time.perf_counter() - started) * 1000)
        request_ms, _ = timed(lambda: index.search([faces.encode_selfie(data)[0].encoding]), 5)
        print(f"request: {parts} ms; encode_selfie + search {request_ms:.0f} ms "
              f"(median of 5; wall time {statistics.median(walls):.0f} ms)")

        heic = _heic_copy(selfie_path)
        if heic is not None:
            heic_ms, _ = timed(lambda: index.search([faces.encode_selfie(heic)[0].encoding]), 3)
            print(f"request with the same photo as HEIC ({len(heic) / 1e6:.1f} MB, no reduced-scale decode): "
                  f"{heic_ms:.0f} ms")

    print(f"match_ms_600k={match_ms:.1f} loop_ms_600k={loop_ms:.0f} "
          f"request_ms={'skipped' if request_ms is None else f'{request_ms:.0f}'}")


def _heic_copy(path: Path) -> bytes | None:
    """The photo re-encoded as HEIC in memory (iPhones send HEIC), or None without an encoder."""
    import io

    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        buffer = io.BytesIO()
        with faces.Image.open(path) as image:
            image.save(buffer, format="HEIF", quality=90)
        return buffer.getvalue()
    except Exception as error:  # an optional extra figure: never fail the bench for it
        print(f"request with HEIC: skipped ({error})")
        return None


if __name__ == "__main__":
    main()
