"""Accuracy of selfie search on a labelled folder of photos (the layout of ../shared/faces).

    .venv/bin/python bench/face_accuracy.py ../shared/faces

Every image is indexed the way event photos are (detect_photo_faces: every face, preview size); each identity's
designated selfie (queries.json) is encoded the way selfies are (encode_selfie, largest face) and searched
against every *other* image with FaceIndex. An image is a true match when it shows the identity: its own folder,
or a group photo whose labels.json entry lists it. Prints recall, precision and false-match rate per threshold
and per band, a multi-selfie comparison of scoring rules, and last the line
`recall=X precision=Y strong_precision=Z` for the default thresholds.

Encodings are cached in the system temp folder, keyed by each file's sha256 and the pipeline's settings, so
reruns take a second. Figures only: this never passes or fails.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixstock.services import faces  # noqa: E402

SWEEP = [0.40, 0.44, 0.46, 0.48, 0.50, 0.52, 0.54, 0.55, 0.56, 0.57, 0.58, 0.60]
# Everything that changes an encoding; a change makes a new cache file.
PIPELINE = (
    f"photo{faces.PHOTO_MAX_SIDE}/{faces.PHOTO_DETECT_SIDE}-selfie{faces.SELFIE_MAX_SIDE}/"
    f"{faces.SELFIE_DETECT_SIDE}-v1"
)


def discover(folder: Path) -> tuple[list[dict], dict[str, str]]:
    """List the folder's images with the identities each shows, and the designated selfie per identity."""
    people_root = folder / "identities" if (folder / "identities").is_dir() else folder
    group_labels = {}
    labels_path = folder / "_group" / "labels.json"
    if labels_path.exists():
        group_labels = json.loads(labels_path.read_text())["photos"]
    images = []
    for directory in sorted(p for p in people_root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        for path in sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")):
            images.append({"path": path, "kind": "single", "identities": {directory.name}})
    for name, label in sorted(group_labels.items()):
        if (folder / "_group" / name).exists():
            images.append({"path": folder / "_group" / name, "kind": "group", "identities": set(label["identities"])})
    noface = folder / "_noface"
    if noface.is_dir():
        for path in sorted(p for p in noface.iterdir() if p.is_file() and not p.name.startswith(".")):
            images.append({"path": path, "kind": "noface", "identities": set()})
    queries = json.loads((folder / "queries.json").read_text())["queries"]
    by_name = {str(image["path"].relative_to(people_root)): image for image in images}
    return images, {identity: by_name[file]["path"] for identity, file in queries.items() if file in by_name}


def encode_file(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Encode one file both ways: every face as an event photo, and the largest face as a selfie."""
    started = time.perf_counter()
    try:
        index = [face.encoding for face in faces.detect_photo_faces(path)]
        selfie = [face.encoding for face in faces.encode_selfie(path)[:1]]
    except faces.FaceImageError:
        index, selfie = [], []
    as_matrix = lambda rows: np.array(rows, dtype=np.float32).reshape(-1, faces.ENCODING_SIZE)  # noqa: E731
    return as_matrix(index), as_matrix(selfie), time.perf_counter() - started


def encode_all(images: list[dict], use_cache: bool) -> None:
    """Attach 'index' and 'selfie' encodings to every image, from the cache when the file is unchanged."""
    for image in images:
        image["sha"] = hashlib.sha256(image["path"].read_bytes()).hexdigest()
    key = hashlib.sha1(PIPELINE.encode()).hexdigest()[:12]
    cache_path = Path(tempfile.gettempdir()) / f"pixstock-face-accuracy-{key}.npz"
    cache = {}
    if use_cache and cache_path.exists():
        with np.load(cache_path, allow_pickle=False) as stored:
            cache = {key: stored[key] for key in stored.files}
    todo = [image for image in images if f"{image['sha']}_index" not in cache]
    if todo:
        print(f"encoding {len(todo)} images ({len(images) - len(todo)} cached) ...", flush=True)
        with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
            for image, (index, selfie, _) in zip(todo, pool.map(encode_file, [image["path"] for image in todo])):
                cache[f"{image['sha']}_index"], cache[f"{image['sha']}_selfie"] = index, selfie
        if use_cache:
            np.savez(cache_path, **cache)
    for image in images:
        image["index"], image["selfie"] = cache[f"{image['sha']}_index"], cache[f"{image['sha']}_selfie"]


def evaluate(images, selfie_sets, strong, maybe, agreement=True):
    """Search each identity's selfies against every image not used as one of its selfies; return the rows."""
    matrix = np.concatenate([image["index"] for image in images])
    photo_ids = np.repeat(np.arange(len(images)), [len(image["index"]) for image in images])
    index = faces.FaceIndex(matrix, np.arange(len(matrix)), photo_ids)
    weight = faces.AGREEMENT_WEIGHT if agreement else 0.0
    rows = []  # (identity, image number, is_true, distance, score, band) for every pair
    for identity, selfie_numbers in selfie_sets.items():
        queries = np.concatenate([images[number]["selfie"] for number in selfie_numbers])
        found = {match.photo_id: match for match in index.search(queries, strong, maybe, agreement=weight)}
        for number, image in enumerate(images):
            if number in selfie_numbers:
                continue
            match = found.get(number)
            rows.append((
                identity, number, identity in image["identities"],
                match.distance if match else np.inf, match.score if match else np.inf,
                match.band if match else None,
            ))
    return rows


def figures(rows, predicted) -> tuple[int, int, int, int]:
    """True positives, false positives, positives and negatives for a predicate over rows."""
    tp = sum(1 for row in rows if row[2] and predicted(row))
    fp = sum(1 for row in rows if not row[2] and predicted(row))
    positives = sum(1 for row in rows if row[2])
    return tp, fp, positives, len(rows) - positives


def line(label, rows, predicted) -> str:
    """One printed line of recall, precision and false-match rate."""
    tp, fp, positives, negatives = figures(rows, predicted)
    precision = tp / (tp + fp) if tp + fp else 1.0
    return (f"{label:<24} recall={tp / positives:.3f} precision={precision:.3f} "
            f"false_match_rate={fp / negatives:.4f}  (tp={tp} fp={fp} fn={positives - tp})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--strong", type=float, default=faces.STRONG_THRESHOLD)
    parser.add_argument("--maybe", type=float, default=faces.MAYBE_THRESHOLD)
    parser.add_argument("--no-cache", action="store_true", help="encode everything again")
    args = parser.parse_args()
    if not (args.folder / "queries.json").exists():
        sys.exit(f"{args.folder}: no queries.json here; expected the layout of ../shared/faces")

    images, query_paths = discover(args.folder)
    encode_all(images, use_cache=not args.no_cache)
    number_of = {image["path"]: number for number, image in enumerate(images)}
    selfies = {identity: [number_of[path]] for identity, path in query_paths.items()}
    missing = [identity for identity, (number,) in selfies.items() if not len(images[number]["selfie"])]
    print(f"{len(images)} images ({sum(len(i['index']) for i in images)} faces), {len(selfies)} selfies"
          + (f"; no face found in the selfie of {', '.join(missing)}" if missing else ""))

    # Distances do not depend on thresholds: search once with a wide maybe, then threshold the rows.
    rows = evaluate(images, selfies, strong=args.strong, maybe=0.8)
    print("\nOne threshold over the nearest face of each image (the seed's single-threshold rule):")
    for threshold in SWEEP:
        print(line(f"  distance <= {threshold:.2f}", rows, lambda row, t=threshold: row[3] <= t))

    print(f"\nBands at the defaults (strong <= {args.strong}, maybe <= {args.maybe}):")
    print(line("  strong", rows, lambda row: row[3] <= args.strong))
    print(line("  maybe only", rows, lambda row: args.strong < row[3] <= args.maybe))
    print(line("  strong + maybe", rows, lambda row: row[3] <= args.maybe))
    for row in sorted(rows, key=lambda row: row[3]):
        wrong_in = not row[2] and row[3] <= args.maybe
        missed = row[2] and row[3] > args.maybe
        if wrong_in or missed:
            label = "wrong match" if wrong_in else "missed     "
            print(f"    {label} d={row[3]:.3f} selfie of {row[0]} vs {images[row[1]]['path'].relative_to(args.folder)}")

    # Several selfies: the identity's designated selfie plus its next images, searched against the rest.
    print("\nSeveral selfies per search (designated selfie + the identity's next images as extra selfies),")
    print("with and without agreement from the other selfies lowering the score:")
    by_identity: dict[str, list[int]] = {}
    for number, image in enumerate(images):
        if image["kind"] == "single":
            by_identity.setdefault(next(iter(image["identities"])), []).append(number)
    for count in (2, 3):
        sets = {}
        for identity, (first,) in selfies.items():
            others = [n for n in by_identity[identity] if n != first and len(images[n]["selfie"])]
            if len(others) >= count:  # keep at least one photo of the person to find
                sets[identity] = [first] + others[:count - 1]
        for agreement in (False, True):
            multi = evaluate(images, sets, strong=args.strong, maybe=args.maybe, agreement=agreement)
            rule = f"best - {faces.AGREEMENT_WEIGHT} x agreement" if agreement else "best distance only"
            print(f"  {count} selfies, {len(sets)} identities, score = {rule}:")
            print(line("    strong", multi, lambda row: row[5] == "strong"))
            print(line("    strong + maybe", multi, lambda row: row[5] is not None))

    tp, fp, positives, _ = figures(rows, lambda row: row[3] <= args.maybe)
    strong_tp, strong_fp, _, _ = figures(rows, lambda row: row[3] <= args.strong)
    print(f"recall={tp / positives:.3f} precision={tp / max(1, tp + fp):.3f} "
          f"strong_precision={strong_tp / max(1, strong_tp + strong_fp):.3f}")


if __name__ == "__main__":
    main()
