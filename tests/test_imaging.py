"""Unit tests for pixstock.services.imaging: pure Pillow, no app, no database.

Every image is made here, in memory or under tmp_path, so each test states exactly what it feeds in.
"""
from __future__ import annotations

import io
import json
import struct
import zlib
from datetime import datetime, timezone

import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageCms, ImageDraw, ImageFile, JpegImagePlugin
from PIL.TiffImagePlugin import IFDRational

from pixstock.services import imaging
from pixstock.services.imaging import ImageRejected

BASE, GPS = ExifTags.Base, ExifTags.GPS
NAMES = {"square_150", "square_300", "medium", "preview"}
RED, BLUE, GREY = (220, 30, 30), (30, 30, 220), (128, 128, 128)


# --- helpers ------------------------------------------------------------------------------------------


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def heic_bytes(image: Image.Image, **params) -> bytes:
    if not pillow_heif.libheif_info().get("HEIF"):
        pytest.skip("pillow_heif has no HEVC encoder here")
    return encode(image, "HEIF", quality=80, **params)


def textured(size, mode="RGB") -> Image.Image:
    """Noise over a gradient: enough entropy-coded data that cutting the file loses real pixels."""
    noise = Image.effect_noise(size, 40).convert("L")
    gradient = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (noise, gradient, Image.new("L", size, 90))).convert(mode)


def camera_exif(orientation=1, offset="+07:00", make="Canon", model="Canon EOS R6", gps=True) -> Image.Exif:
    """EXIF laid out the way cameras write it: IFD0, the Exif sub-IFD and the GPS IFD."""
    exif = Image.Exif()
    exif[BASE.Make] = make
    exif[BASE.Model] = model
    exif[BASE.Orientation] = orientation
    exif[BASE.DateTime] = "2026:01:05 10:00:00"  # when software last touched it: must be ignored
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[BASE.LensModel] = "RF24-70mm F2.8 L IS USM"
    details[BASE.ISOSpeedRatings] = 400
    details[BASE.ExposureTime] = IFDRational(1, 250)
    details[BASE.FNumber] = IFDRational(28, 10)
    details[BASE.FocalLength] = IFDRational(70, 1)
    details[BASE.FocalLengthIn35mmFilm] = 70
    details[BASE.DateTimeOriginal] = "2025:11:23 06:15:30"
    details[BASE.SubsecTimeOriginal] = "25"
    if offset:
        details[BASE.OffsetTimeOriginal] = offset
    if gps:
        location = exif.get_ifd(ExifTags.IFD.GPSInfo)
        location[GPS.GPSLatitudeRef] = "N"
        location[GPS.GPSLatitude] = (IFDRational(13), IFDRational(45), IFDRational(1830, 100))
        location[GPS.GPSLongitudeRef] = "E"
        location[GPS.GPSLongitude] = (IFDRational(100), IFDRational(30), IFDRational(0))
        location[GPS.GPSAltitudeRef] = b"\x00"
        location[GPS.GPSAltitude] = IFDRational(15, 1)
    return exif


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG with its SOF header patched to claim width x height."""
    data = bytearray(encode(textured((64, 48))))
    offset = 2
    while data[offset + 1] != 0xC0:  # walk the marker segments up to SOF0
        offset += 2 + int.from_bytes(data[offset + 2:offset + 4], "big")
    data[offset + 5:offset + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def linear_rgb_profile() -> bytes:
    """A minimal ICC v2 display profile: sRGB primaries with linear tone curves (gamma 1.0)."""

    def s15(value):
        return struct.pack(">i", round(value * 65536))

    def xyz(x, y, z):
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0100)  # one entry: gamma 1.0
    name = b"Linear RGB (test)\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + b"\0" * 78  # no Unicode/Mac names
    tags = [
        (b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)), (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve),
    ]
    start = 128 + 4 + 12 * len(tags)
    table = data = b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", start + len(data), len(body))
        data += body
    header = (
        struct.pack(">I", start + len(data)) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
        + b"\0" * 12 + b"acsp" + b"\0" * 28 + s15(0.9642) + s15(1.0) + s15(0.8249)
    )
    return header.ljust(128, b"\0") + struct.pack(">I", len(tags)) + table + data


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def is_red(pixel) -> bool:
    return pixel[0] > pixel[2] + 60


def is_blue(pixel) -> bool:
    return pixel[2] > pixel[0] + 60


# --- sniffing and refusal -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, expected",
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"), ("HEIF", "image/heic")],
)
def test_sniff_recognises_each_accepted_type(fmt, expected):
    image = Image.new("RGB", (32, 24), GREY)
    data = heic_bytes(image) if fmt == "HEIF" else encode(image, fmt)
    assert imaging.sniff(data[: imaging.SNIFF_BYTES]) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"hello, this is text pretending to be a photo",
        b"GIF89a\x01\x00\x01\x00",
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",  # AVIF: no decoder here
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isommp42",  # an MP4 video
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
    ],
)
def test_sniff_refuses_other_content(head):
    assert imaging.sniff(head) is None


def test_sniff_reads_heif_by_compatible_brand():
    assert imaging.sniff(b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic") == "image/heic"
    assert imaging.sniff(b"\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1") == "image/heif"


def test_png_named_jpg_is_inspected_as_png(tmp_path):
    path = write(tmp_path, "holiday.jpg", encode(Image.new("RGB", (40, 30), GREY), "PNG"))
    info = imaging.inspect(path)
    assert (info.content_type, info.width, info.height) == ("image/png", 40, 30)


def test_text_named_jpg_is_rejected(tmp_path):
    path = write(tmp_path, "photo.jpg", b"Dear photographer, this is not a photo.\n" * 20)
    with pytest.raises(ImageRejected) as caught:
        imaging.inspect(path)
    assert caught.value.reason == imaging.NOT_AN_IMAGE
    assert str(caught.value) == caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_empty_file_is_rejected(tmp_path):
    path = write(tmp_path, "empty.jpg", b"")
    for call in (imaging.inspect, lambda p: imaging.build_derivatives(p, "x")):
        with pytest.raises(ImageRejected, match="The file is empty"):
            call(path)


@pytest.mark.parametrize("size", [(600, 400), (3000, 2000)])  # the second decodes at reduced scale
def test_truncated_jpeg_is_rejected_by_every_entry_point(tmp_path, size):
    data = encode(textured(size), quality=90)
    path = write(tmp_path, "cut.jpg", data[: len(data) * 2 // 3])
    for call in (
        imaging.inspect,
        lambda p: imaging.build_derivatives(p, "x"),
        lambda p: imaging.process(p, "x"),
        imaging.load_oriented,
    ):
        with pytest.raises(ImageRejected) as caught:
            call(path)
        assert caught.value.reason == imaging.CORRUPT


def test_complete_jpeg_of_the_same_kind_passes(tmp_path):
    """The control for the truncation test: the uncut file is fine."""
    path = write(tmp_path, "whole.jpg", encode(textured((3000, 2000)), quality=90))
    assert imaging.inspect(path).width == 3000
    assert set(imaging.build_derivatives(path, "x")) == NAMES


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,  # JPEG magic, garbage after
        b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\x01" * 40,  # PNG magic, bad header CRC
        b"RIFF\x20\x00\x00\x00WEBPVP8 " + b"\x07" * 40,
    ],
)
def test_corrupt_bytes_are_rejected(tmp_path, data):
    path = write(tmp_path, "bad.jpg", data)
    with pytest.raises(ImageRejected) as caught:
        imaging.inspect(path)
    assert caught.value.reason == imaging.CORRUPT


def test_png_with_corrupt_pixel_data_is_rejected(tmp_path):
    # Pillow marks a PNG loaded once it has failed: a second load() then "succeeds" silently.
    data = bytearray(encode(textured((400, 300)), "PNG"))
    start = data.index(b"IDAT") + 2000
    data[start:start + 400] = bytes(byte ^ 0x5A for byte in data[start:start + 400])
    path = write(tmp_path, "bad.png", bytes(data))
    for call in (imaging.inspect, lambda p: imaging.process(p, "x")):
        with pytest.raises(ImageRejected, match="truncated or corrupt"):
            call(path)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
def test_truncated_png_webp_heic_are_rejected(tmp_path, fmt):
    image = textured((400, 300))
    data = heic_bytes(image) if fmt == "HEIF" else encode(image, fmt)
    path = write(tmp_path, "cut.img", data[: len(data) // 2])
    with pytest.raises(ImageRejected, match="truncated or corrupt"):
        imaging.inspect(path)


def test_load_truncated_images_flag_is_refused(tmp_path, monkeypatch):
    data = encode(textured((600, 400)))
    path = write(tmp_path, "cut.jpg", data[: len(data) // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        imaging.inspect(path)


# --- size limits --------------------------------------------------------------------------------------


def test_decompression_bomb_png_is_rejected(tmp_path):
    path = write(tmp_path, "bomb.png", png_declaring(30_000, 30_000))  # 900 MP in 100 bytes
    with pytest.raises(ImageRejected) as caught:
        imaging.inspect(path)
    assert caught.value.reason.startswith("The image is too large (900 megapixels; the limit is 89")


def test_image_between_limit_and_twice_limit_is_rejected_too(tmp_path):
    # Pillow only warns between MAX_IMAGE_PIXELS and twice that; pixstock refuses.
    path = write(tmp_path, "big.png", png_declaring(10_000, 10_000))
    with pytest.raises(ImageRejected, match=r"too large \(100 megapixels"):
        imaging.build_derivatives(path, "x")


def test_huge_declared_jpeg_is_refused_before_decoding(tmp_path, monkeypatch):
    path = write(tmp_path, "huge.jpg", jpeg_declaring(60_000, 60_000))

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    for call in (imaging.inspect, lambda p: imaging.build_derivatives(p, "x")):
        with pytest.raises(ImageRejected, match=r"too large \(3600 megapixels"):
            call(path)


def test_size_limit_holds_without_pillows_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = write(tmp_path, "huge.jpg", jpeg_declaring(60_000, 60_000))
    with pytest.raises(ImageRejected, match="too large"):
        imaging.inspect(path)


def test_size_limit_follows_max_image_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    ok = write(tmp_path, "ok.jpg", encode(Image.new("RGB", (1000, 1000), GREY)))
    too_big = write(tmp_path, "big.jpg", encode(Image.new("RGB", (1200, 1000), GREY)))
    assert imaging.inspect(ok).width == 1000
    with pytest.raises(ImageRejected, match=r"\(1 megapixels; the limit is 1\)"):
        imaging.inspect(too_big)


# --- formats and modes --------------------------------------------------------------------------------


def test_heic_is_inspected_and_processed(tmp_path):
    image = Image.new("RGB", (640, 480), BLUE)
    image.paste(RED, (0, 0, 320, 240))
    path = write(tmp_path, "IMG_0001.HEIC", heic_bytes(image, exif=camera_exif(gps=False).tobytes()))
    info, derivatives = imaging.process(path, "Run")
    assert (info.content_type, info.width, info.height) == ("image/heic", 640, 480)
    assert info.camera_model == "Canon EOS R6"
    assert set(derivatives) == NAMES
    square = opened(derivatives["square_300"])
    assert square.size == (300, 300)
    assert is_red(square.getpixel((60, 60))) and is_blue(square.getpixel((240, 240)))


@pytest.mark.parametrize(
    "make_image, fmt, corner",
    [
        # Transparent pixels become white, not black.
        (lambda: Image.new("RGBA", (400, 300), (255, 0, 0, 0)), "PNG", (255, 255, 255)),
        (lambda: Image.new("RGBA", (400, 300), (200, 20, 20, 255)), "WEBP", (200, 20, 20)),
        (lambda: Image.new("LA", (400, 300), (100, 255)), "PNG", (100, 100, 100)),
        (lambda: Image.new("L", (400, 300), 77), "JPEG", (77, 77, 77)),
        (lambda: Image.new("CMYK", (400, 300), (0, 255, 255, 0)), "JPEG", (255, 0, 0)),
        # 16-bit greyscale at half scale must come out mid-grey, not clipped to white.
        (lambda: Image.new("I;16", (400, 300), 32768), "PNG", (128, 128, 128)),
        (lambda: Image.new("1", (400, 300), 1), "PNG", (255, 255, 255)),
    ],
    ids=["RGBA-transparent", "RGBA-webp", "LA", "L", "CMYK", "I16", "bilevel"],
)
def test_modes_are_converted_to_rgb(tmp_path, make_image, fmt, corner):
    path = write(tmp_path, f"in.{fmt.lower()}", encode(make_image(), fmt))
    derivatives = imaging.build_derivatives(path, "x")
    square = opened(derivatives["square_150"])  # squares carry no watermark
    assert square.mode == "RGB"
    assert all(abs(a - b) <= 6 for a, b in zip(square.getpixel((10, 10)), corner))


def test_palette_with_transparency_becomes_white(tmp_path):
    image = Image.new("P", (400, 300), 0)
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.paste(1, (200, 0, 400, 300))
    path = write(tmp_path, "p.png", encode(image, "PNG", transparency=0))
    square = opened(imaging.build_derivatives(path, "x")["square_300"])
    assert square.getpixel((20, 150)) == (255, 255, 255)
    assert is_blue(square.getpixel((280, 150)))


def test_camera_jpeg_with_mpf_preview_is_processed(tmp_path):
    """Many cameras write MPO (a JPEG plus a preview JPEG): Pillow opens it as MPO."""
    main = textured((3000, 2000))
    path = write(tmp_path, "DSC_0001.JPG", encode(main, "MPO", save_all=True, append_images=[main.resize((300, 200))]))
    assert Image.open(path).format == "MPO"
    info, derivatives = imaging.process(path, "x")
    assert info.content_type == "image/jpeg"
    assert opened(derivatives["preview"]).size == (1500, 1000)


# --- orientation --------------------------------------------------------------------------------------


def stored_with_red_top_left(orientation: int) -> bytes:
    """A 400x200 stored image: top-left quadrant red, the rest blue, with an EXIF orientation."""
    image = Image.new("RGB", (400, 200), BLUE)
    image.paste(RED, (0, 0, 200, 100))
    return encode(image, quality=95, exif=camera_exif(orientation=orientation, gps=False))


@pytest.mark.parametrize(
    "orientation, red_at, blue_at",
    [
        (1, (100, 50), (300, 150)),  # as stored: 400x200, red top-left
        (6, (150, 100), (50, 100)),  # rotated 90 degrees clockwise: red top-right
        (8, (50, 300), (150, 300)),  # rotated 90 degrees anticlockwise: red bottom-left
        (3, (300, 150), (100, 50)),  # upside down: red bottom-right
    ],
)
def test_orientation_is_applied(tmp_path, orientation, red_at, blue_at):
    path = write(tmp_path, "o.jpg", stored_with_red_top_left(orientation))
    swapped = orientation in (5, 6, 7, 8)
    info = imaging.inspect(path)
    assert (info.width, info.height) == ((200, 400) if swapped else (400, 200))
    preview = opened(imaging.build_derivatives(path, "x")["preview"])
    assert preview.size == (info.width, info.height)
    assert is_red(preview.getpixel(red_at)), preview.getpixel(red_at)
    assert is_blue(preview.getpixel(blue_at)), preview.getpixel(blue_at)
    oriented = imaging.load_oriented(path)
    assert oriented.size == preview.size and is_red(oriented.getpixel(red_at))


def test_orientation_6_square_is_cut_from_the_upright_image(tmp_path):
    path = write(tmp_path, "o.jpg", stored_with_red_top_left(6))
    # Upright 200x400; the centre square spans y 100..300, so its top half holds the red's lower end.
    square = opened(imaging.build_derivatives(path, "x")["square_300"])
    assert is_red(square.getpixel((225, 60))) and is_blue(square.getpixel((75, 60)))
    assert is_blue(square.getpixel((225, 240)))


def test_large_rotated_jpeg_decodes_at_reduced_scale(tmp_path, monkeypatch):
    path = write(tmp_path, "big.jpg", encode(textured((600, 400)).resize((6000, 4000)), exif=camera_exif(orientation=6)))
    boxes = []
    original_draft = JpegImagePlugin.JpegImageFile.draft

    def recording_draft(self, mode, size):
        boxes.append((mode, size))
        return original_draft(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", recording_draft)
    info, derivatives = imaging.process(path, "x")
    assert boxes == [("RGB", (1500, 1000))]  # quarter scale, the exact aspect-correct box
    assert (info.width, info.height) == (4000, 6000)
    assert opened(derivatives["preview"]).size == (1000, 1500)
    assert opened(derivatives["medium"]).size == (400, 600)


# --- metadata -----------------------------------------------------------------------------------------


def test_camera_metadata_is_extracted(tmp_path):
    path = write(tmp_path, "IMG_1234.JPG", encode(textured((600, 400)), exif=camera_exif()))
    info = imaging.inspect(path)
    assert info.camera_model == "Canon EOS R6"
    assert info.taken_at == datetime(2025, 11, 22, 23, 15, 30, 250000, tzinfo=timezone.utc)
    metadata = info.metadata
    assert metadata["make"] == "Canon" and metadata["model"] == "Canon EOS R6"
    assert metadata["lens"] == "RF24-70mm F2.8 L IS USM"
    assert metadata["iso"] == 400
    assert metadata["exposure_time"] == pytest.approx(1 / 250)
    assert metadata["f_number"] == pytest.approx(2.8)
    assert metadata["focal_length"] == pytest.approx(70.0)
    assert metadata["focal_length_35mm"] == 70
    assert metadata["taken_at"] == "2025-11-23T06:15:30.250000+07:00"
    assert metadata["gps"] == {"latitude": pytest.approx(13.7550833), "longitude": pytest.approx(100.5), "altitude": 15.0}
    # Location only under "gps", so the app can keep it private by dropping one key.
    assert not {key for key in metadata if key != "gps" and ("lat" in key or "lon" in key)}
    assert json.loads(json.dumps(metadata)) == metadata


def test_gps_south_and_west_are_negative(tmp_path):
    exif = camera_exif()
    location = exif.get_ifd(ExifTags.IFD.GPSInfo)
    location[GPS.GPSLatitudeRef], location[GPS.GPSLongitudeRef] = "S", "W"
    path = write(tmp_path, "rio.jpg", encode(textured((60, 40)), exif=exif))
    gps = imaging.inspect(path).metadata["gps"]
    assert gps["latitude"] == pytest.approx(-13.7550833) and gps["longitude"] == pytest.approx(-100.5)


@pytest.mark.parametrize(
    "offset, default_tz, expected_utc_hour",
    [
        ("+07:00", "Europe/London", 23),  # an explicit offset wins over the default
        ("-05:00", None, 11),
        (None, None, 23),  # no offset: Asia/Bangkok, UTC+7
        (None, "Europe/London", 6),
    ],
)
def test_taken_at_uses_offset_or_default_timezone(tmp_path, offset, default_tz, expected_utc_hour):
    path = write(tmp_path, "t.jpg", encode(textured((60, 40)), exif=camera_exif(offset=offset)))
    info = imaging.inspect(path) if default_tz is None else imaging.inspect(path, default_tz=default_tz)
    assert info.taken_at.tzinfo == timezone.utc
    assert (info.taken_at.hour, info.taken_at.minute, info.taken_at.second) == (expected_utc_hour, 15, 30)


def test_make_is_prefixed_when_the_model_lacks_it(tmp_path):
    path = write(tmp_path, "s.jpg", encode(textured((60, 40)), exif=camera_exif(make="SONY", model="ILCE-7M4")))
    assert imaging.inspect(path).camera_model == "SONY ILCE-7M4"


def test_unknown_date_and_missing_exif_give_none(tmp_path):
    exif = camera_exif(gps=False)
    exif.get_ifd(ExifTags.IFD.Exif)[BASE.DateTimeOriginal] = "0000:00:00 00:00:00"
    unknown = imaging.inspect(write(tmp_path, "u.jpg", encode(textured((60, 40)), exif=exif)))
    assert unknown.taken_at is None and "gps" not in unknown.metadata
    bare = imaging.inspect(write(tmp_path, "b.png", encode(Image.new("RGB", (60, 40)), "PNG")))
    assert (bare.metadata, bare.taken_at, bare.camera_model) == ({}, None, None)


# --- derivatives --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, preview, medium",
    [
        ((6000, 4000), (1500, 1000), (800, 533)),  # 24 MP: quarter-scale decode
        ((4000, 3000), (1600, 1200), (800, 600)),  # 12 MP: half-scale decode, then resized
        ((2000, 3000), (1000, 1500), (400, 600)),  # portrait; half scale is within 10 % of 1600
        ((2400, 3600), (1067, 1600), (400, 600)),  # portrait; half scale then resized
        ((400, 300), (400, 300), (400, 300)),  # small: never enlarged
        ((120, 60), (120, 60), (120, 60)),  # smaller than the squares
    ],
)
def test_derivative_sizes(tmp_path, size, preview, medium):
    path = write(tmp_path, "s.jpg", encode(Image.new("RGB", (60, 40), GREY).resize(size)))
    derivatives = imaging.build_derivatives(path, "Bangkok Marathon 2025")
    assert set(derivatives) == NAMES
    sizes = {name: opened(data).size for name, data in derivatives.items()}
    assert sizes == {"square_150": (150, 150), "square_300": (300, 300), "medium": medium, "preview": preview}
    assert all(opened(data).format == "JPEG" for data in derivatives.values())


@pytest.mark.parametrize(
    "profile, expected",
    [
        (linear_rgb_profile, 188),  # linear 0.5 is sRGB-encoded 188
        (lambda: ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(), 128),  # left alone
        (lambda: b"not a profile", 128),  # a broken profile is ignored, as browsers do
    ],
    ids=["linear-profile", "srgb-profile", "broken-profile"],
)
def test_embedded_colour_profile_is_converted_to_srgb(tmp_path, profile, expected):
    path = write(tmp_path, "icc.jpg", encode(Image.new("RGB", (400, 300), GREY), quality=95, icc_profile=profile()))
    square = opened(imaging.build_derivatives(path, "x")["square_150"])
    assert "icc_profile" not in square.info
    assert all(abs(channel - expected) <= 3 for channel in square.getpixel((75, 75)))


def test_panorama_squares_come_from_an_image_tall_enough(tmp_path):
    # 3200x400 with 2 px stripes: the medium (800x100) is too short for a 300 px square and has
    # blurred the stripes to flat grey; the preview (1600x200) still shows them.
    stripes = Image.new("L", (3200, 400), 0)
    for x in range(0, 3200, 4):
        stripes.paste(255, (x, 0, x + 2, 400))
    path = write(tmp_path, "pano.jpg", encode(stripes.convert("RGB"), quality=95))
    derivatives = imaging.build_derivatives(path, "x")
    assert opened(derivatives["medium"]).size == (800, 100)
    square = opened(derivatives["square_300"]).convert("L")
    darkest, brightest = square.getextrema()
    assert brightest - darkest > 150


def test_derivatives_carry_no_metadata(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    path = write(
        tmp_path, "gps.jpg", encode(textured((1200, 800)), exif=camera_exif(orientation=6), icc_profile=icc, xmp=xmp)
    )
    assert imaging.inspect(path).metadata["gps"]  # the source does carry a location
    for name, data in imaging.build_derivatives(path, "x").items():
        image = opened(data)
        assert not image.getexif(), name
        assert not {"exif", "icc_profile", "xmp"} & set(image.info), name
        for marker in (b"Exif\x00\x00", b"ICC_PROFILE", b"http://ns.adobe.com/xap", b"Canon"):
            assert marker not in data, (name, marker)


def test_watermark_changes_the_preview_and_medium_but_not_squares(tmp_path):
    path = write(tmp_path, "grey.jpg", encode(Image.new("RGB", (1200, 800), GREY), quality=95))
    derivatives = imaging.build_derivatives(path, "Bangkok Marathon 2025")
    for name, watermarked in (("preview", True), ("medium", True), ("square_300", False)):
        image = opened(derivatives[name]).convert("L")
        changed = sum(count for value, count in enumerate(image.histogram()) if abs(value - 128) > 12)
        share = changed / (image.width * image.height)
        if watermarked:
            assert 0.03 < share < 0.6, (name, share)  # visible, tiled, not a solid block
            histogram = image.histogram()
            lighter, darker = sum(histogram[150:]), sum(histogram[:105])
            assert lighter > 0.02 * share * image.width * image.height, name  # white text
            assert darker > 0.02 * share * image.width * image.height, name  # its dark outline
        else:
            assert share < 0.001, (name, share)


def test_watermark_text_and_logo_are_rendered(tmp_path):
    path = write(tmp_path, "grey.jpg", encode(Image.new("RGB", (1200, 800), GREY), quality=95))
    logo_image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    logo_image.paste((255, 0, 0, 255), (20, 20, 180, 80))
    logo = write(tmp_path, "logo.png", encode(logo_image, "PNG"))

    def preview(text, logo_path=None):
        return opened(imaging.build_derivatives(path, text, logo_path)["preview"])

    plain, other, with_logo = preview("Bangkok Marathon"), preview("Chiang Mai Trail"), preview("Bangkok Marathon", logo)
    assert plain.tobytes() != other.tobytes()
    corner = (plain.width - 120, plain.height - 60)
    assert is_red(with_logo.getpixel(corner)) and not is_red(plain.getpixel(corner))


def test_thai_watermark_text_is_drawn_in_a_thai_font_not_as_boxes(tmp_path):
    path = write(tmp_path, "grey.jpg", encode(Image.new("RGB", (1200, 800), GREY), quality=95))

    def preview(text):
        return opened(imaging.build_derivatives(path, text)["preview"]).tobytes()

    def glyph(font, char):
        image = Image.new("L", (80, 80))
        ImageDraw.Draw(image).text((10, 10), char, font=font, fill=255)
        return image.tobytes()

    assert imaging.has_thai("วิ่ง Bangkok") and not imaging.has_thai("Bangkok Marathon")
    thai_font = imaging._font(40, thai=True)
    assert thai_font.getname()[0] in ("Garuda", "Loma", "Noto Sans Thai"), "make install adds fonts-tlwg-garuda-ttf"
    assert glyph(thai_font, "ก") != glyph(thai_font, "ข")
    latin_font = imaging._font(40)
    assert glyph(latin_font, "ก") == glyph(latin_font, "ข")  # the boxes Thai text used to get
    # Same length, different letters: boxes would make the two previews identical.
    assert preview("กกกก กกกก") != preview("ขขขข ขขขข")


def test_watermark_is_rendered_once_per_size(tmp_path):
    imaging._watermark_overlay.cache_clear()
    paths = [write(tmp_path, f"{i}.jpg", encode(Image.new("RGB", (1200, 800), (i * 40, 90, 90)))) for i in range(3)]
    for path in paths:
        imaging.build_derivatives(path, "Same Event")
    stats = imaging._watermark_overlay.cache_info()
    assert (stats.misses, stats.hits) == (2, 4)  # one render each for preview and medium


def test_process_equals_inspect_plus_build_derivatives(tmp_path):
    path = write(tmp_path, "p.jpg", encode(textured((1800, 1200)), exif=camera_exif(orientation=8)))
    info, derivatives = imaging.process(path, "Event")
    assert info == imaging.inspect(path)
    assert derivatives == imaging.build_derivatives(path, "Event")


def test_load_oriented_stays_within_max_side(tmp_path):
    path = write(tmp_path, "l.jpg", encode(Image.new("RGB", (60, 40), GREY).resize((5000, 3000))))
    image = imaging.load_oriented(path, 1200)
    assert image.mode == "RGB" and 0.9 * 1200 <= max(image.size) <= 1200
    assert not image.info


def test_building_the_app_leaves_truncated_images_refused():
    """face_recognition flips Pillow's LOAD_TRUNCATED_IMAGES on import; the app must have it off before any thread runs."""
    import subprocess
    import sys

    code = (
        "import sys; from pixstock import create_app; from PIL import ImageFile; create_app({'TESTING': True});"
        "print('face_recognition' in sys.modules, ImageFile.LOAD_TRUNCATED_IMAGES)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=__import__("os").path.dirname(__import__("os").path.dirname(__file__)))
    assert result.stdout.split()[-2:] == ["True", "False"], result.stderr
