"""The face service on real photos (../shared/faces) with real face_recognition, and FaceIndex's exactness.

Needs no app, database or conftest fixtures. The photo tests skip, saying why, when ../shared/faces is absent.
"""
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixstock.services import faces

SHARED_FACES = Path(__file__).resolve().parents[2] / "shared" / "faces"
needs_photos = pytest.mark.skipif(
    not (SHARED_FACES / "manifest.json").exists(),
    reason=f"labelled face photos not found at {SHARED_FACES} (they are kept outside the repository)",
)


def photo_test(function):
    """Mark a test that reads ../shared/faces and runs dlib: slow, and skipped without the photos."""
    return pytest.mark.slow(needs_photos(function))


# Howard's selfie, the other photos of him (two single, three group photos), and photos without him.
SELFIE = "bbt_howard/1.png"
HOWARD = ["bbt_howard/3.png", "bbt_howard/5.png", "_group/faceapi_bbt1.jpg", "_group/faceapi_bbt3.jpg",
          "_group/faceapi_bbt5.jpg"]
OTHERS = ["bbt_leonard/2.png", "bbt_penny/2.png", "bbt_raj/5.png", "_group/faceapi_bbt2.jpg",
          "_group/faceapi_bbt4.jpg", "_group/compreface_000_5.jpg", "lfw_colin_powell/1.jpg"]
AMY = ["bbt_amy/2.png", "bbt_amy/5.png"]


def selfie(name: str) -> np.ndarray:
    """The largest face's encoding of a photo read as a selfie."""
    return faces.encode_selfie((SHARED_FACES / name).read_bytes())[0].encoding


@pytest.fixture(scope="module")
def event_index():
    """A FaceIndex of every face in HOWARD + OTHERS + AMY, photo ids being positions in that list."""
    names = HOWARD + OTHERS + AMY
    rows, photo_ids = [], []
    for number, name in enumerate(names):
        for face in faces.detect_photo_faces(SHARED_FACES / name):
            rows.append(face.encoding)
            photo_ids.append(number)
    return faces.FaceIndex(np.array(rows), np.arange(len(rows)), photo_ids), names


@photo_test
def test_selfie_finds_the_person_in_single_and_group_photos_and_no_one_else(event_index):
    index, names = event_index
    matches = index.search([selfie(SELFIE)])
    found = {names[match.photo_id] for match in matches}
    assert found == set(HOWARD)
    assert all(match.band == "strong" for match in matches)
    assert [match.score for match in matches] == sorted(match.score for match in matches)


@photo_test
def test_several_selfies_find_anyone_close_and_agreement_lowers_the_score(event_index):
    index, names = event_index
    # Two different people: a photo matches when any selfie is close.
    found = {names[match.photo_id] for match in index.search([selfie(SELFIE), selfie("bbt_amy/1.png")])}
    assert found == set(HOWARD) | set(AMY) | {"_group/faceapi_bbt4.jpg"}  # Amy is in bbt4
    # Two selfies of the same person: the second agrees, so scores drop below the best distance.
    matches = index.search([selfie(SELFIE), selfie("bbt_howard/4.png")])
    assert {names[match.photo_id] for match in matches} == set(HOWARD)
    assert all(match.score <= match.distance for match in matches)
    assert any(match.score < match.distance for match in matches)


@photo_test
def test_no_face_image_gives_no_faces():
    path = SHARED_FACES / "_noface" / "dlib_dogs.jpg"
    assert faces.detect_photo_faces(path) == []
    assert faces.encode_selfie(path.read_bytes()) == []


@photo_test
def test_group_photo_gives_several_faces_largest_first_in_original_coordinates():
    path = SHARED_FACES / "_group" / "faceapi_bbt3.jpg"
    with Image.open(path) as image:
        width, height = image.size
    found = faces.encode_selfie(io.BytesIO(path.read_bytes()))
    assert len(found) >= 4
    assert [face.size for face in found] == sorted((face.size for face in found), reverse=True)
    for face in found:
        top, right, bottom, left = face.box
        assert 0 <= top < bottom <= height and 0 <= left < right <= width
        assert face.encoding.dtype == np.float32 and face.encoding.shape == (128,)


@photo_test
def test_large_photo_is_indexed_at_preview_size_with_boxes_in_original_pixels():
    path = SHARED_FACES / "deepface_p03" / "3.jpg"  # 3061 x 4600
    image = faces.load_face_image(path)
    assert max(image.pixels.shape[:2]) == faces.PHOTO_MAX_SIDE
    assert image.scale == pytest.approx(4600 / faces.PHOTO_MAX_SIDE)
    (face,) = faces.detect_photo_faces(path)
    top, right, bottom, left = face.box
    assert 0 <= top < bottom <= 4600 and 0 <= left < right <= 3061
    assert face.size > 500  # a portrait: the face is large in the original


@photo_test
def test_sideways_selfie_with_exif_orientation_is_turned_upright():
    upright_bytes = (SHARED_FACES / "deepface_p13" / "1.jpg").read_bytes()
    with Image.open(io.BytesIO(upright_bytes)) as upright:
        upright = upright.convert("RGB")
        # What a phone writes: pixels stored rotated, EXIF orientation 6 saying "turn 90 degrees clockwise".
        sideways = upright.transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[0x0112] = 6
        buffer = io.BytesIO()
        sideways.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    (reference,) = faces.encode_selfie(upright_bytes)
    found = faces.encode_selfie(buffer.getvalue())
    assert found, "no face found in a sideways selfie"
    assert np.linalg.norm(found[0].encoding - reference.encoding) < 0.1
    assert np.allclose(found[0].box, reference.box, atol=6)  # the box is in upright coordinates


@photo_test
def test_file_names_are_not_trusted():
    # inspireface_kun/1.jpg is really a PNG with transparency.
    image = faces.load_face_image(SHARED_FACES / "inspireface_kun" / "1.jpg")
    assert image.pixels.ndim == 3 and image.pixels.shape[2] == 3


@photo_test
def test_threads_can_share_the_face_models():
    # dlib's models keep per-call state and release the GIL: unguarded, two threads abort the process.
    import threading

    images = [faces.load_face_image(SHARED_FACES / name) for name in ("_group/faceapi_bbt1.jpg", "deepface_p11/1.jpg")]
    expected = [[face.box for face in faces.detect_faces(image, detect_side=600)] for image in images]
    results = []

    def work(offset):
        for turn in range(2):
            number = (offset + turn) % len(images)
            results.append((number, [face.box for face in faces.detect_faces(images[number], detect_side=600)]))

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6
    assert all(boxes == expected[number] for number, boxes in results)


def test_non_images_raise_face_image_error_with_a_reason():
    with pytest.raises(faces.FaceImageError) as error:
        faces.encode_selfie(b"%PDF-1.7 not a photo")
    assert "not an image" in error.value.reason
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(buffer, "JPEG")
    with pytest.raises(faces.FaceImageError):
        faces.load_face_image(buffer.getvalue()[:600])  # truncated upload


def brute_force(encodings, photo_ids, queries, maybe):
    """Reference search: every face against every selfie in float64, best face per photo."""
    best = {}
    for row, photo_id in enumerate(photo_ids):
        distance = min(np.linalg.norm(encodings[row].astype(np.float64) - query.astype(np.float64))
                       for query in queries)
        if distance <= maybe and (photo_id not in best or distance < best[photo_id][1]):
            best[photo_id] = (row, distance)
    return best


@pytest.mark.parametrize("selfie_count", [1, 2, 3])
def test_face_index_equals_brute_force_on_random_data(selfie_count):
    rng = np.random.default_rng(selfie_count)
    # Clustered like real encodings (norm ~1.4, people ~0.4 apart from themselves) so many faces fall near
    # the thresholds; 12 faces per photo on average, spread over more rows than one BLAS block.
    people = rng.normal(0, 0.127, (300, 128))
    encodings = (people[rng.integers(0, 300, 6000)] + rng.normal(0, 0.03, (6000, 128))).astype(np.float32)
    photo_ids = rng.integers(0, 500, 6000)
    queries = (people[:selfie_count] + rng.normal(0, 0.03, (selfie_count, 128))).astype(np.float32)
    # Faces exactly on the maybe threshold, and a hair inside and outside it: rounding must not move them.
    direction = rng.normal(0, 1, 128)
    direction /= np.linalg.norm(direction)
    for row, radius in zip((10, 20, 30), (0.56 - 1e-6, 0.56, 0.56 + 1e-6)):
        encodings[row] = queries[0] + (direction * radius).astype(np.float32)
    index = faces.FaceIndex(encodings, np.arange(6000) + 1000, photo_ids)

    matches = index.search(queries, strong=0.5, maybe=0.56, agreement=0.0)
    reference = brute_force(encodings, photo_ids, queries, 0.56)
    assert len(matches) > 20
    assert {match.photo_id for match in matches} == set(reference)
    for match in matches:
        row, distance = reference[match.photo_id]
        assert match.face_id == row + 1000
        assert match.distance == pytest.approx(distance, rel=0, abs=1e-12)
        assert match.score == match.distance
        assert match.band == ("strong" if distance <= 0.5 else "maybe")
    assert [match.score for match in matches] == sorted(match.score for match in matches)


def test_agreement_lowers_scores_by_the_documented_rule():
    distances = np.array([[0.40, 0.45, 0.70], [0.52, 0.70, 0.80], [0.30, 0.30, 0.30]])
    scores = faces.combined_scores(distances, maybe=0.56, agreement=0.1)
    assert scores == pytest.approx([0.40 - 0.1 * 0.11, 0.52, 0.30 - 0.1 * 0.52])
    assert faces.combined_scores(distances[:, :1], maybe=0.56) == pytest.approx([0.40, 0.52, 0.30])


def test_empty_index_and_no_selfies_find_nothing():
    empty = faces.FaceIndex(np.empty((0, 128), np.float32), [], [])
    assert empty.search([np.zeros(128, np.float32)]) == []
    index = faces.FaceIndex(np.zeros((3, 128), np.float32), [1, 2, 3], [1, 1, 2])
    assert index.search(np.empty((0, 128), np.float32)) == []
