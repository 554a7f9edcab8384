"""Watermarks in the scripts people's names are written in (media/fonts.py, media/export.py):
each character drawn from a font that has it, complex scripts shaped, runs in display order."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops, ImageDraw, ImageFont

from media.export import export_image
from media.fonts import WATERMARK_FONTS, Run, WatermarkFont, font_for, pillow_font, visual_runs
from media.formats import PNG

# script -> (a name written in it, the font file expected to draw its letters)
NAMES: dict[str, tuple[str, str]] = {
    "Latin": ("José Müller-Łukasz", "DejaVuSans.ttf"),
    "Cyrillic": ("Дмитрий Шостакович", "DejaVuSans.ttf"),
    "Greek": ("Γιώργος Σεφέρης", "DejaVuSans.ttf"),
    "Chinese": ("张伟 陳美玲", "wqy-microhei.ttc"),
    "Japanese": ("山田 花子 やまだ カナ", "wqy-microhei.ttc"),
    "Korean": ("김민준 이서연", "wqy-microhei.ttc"),
    "Arabic": ("محمد عبد الله", "NotoSansArabic-Regular.ttf"),
    "Devanagari": ("अर्जुन शर्मा", "NotoSansDevanagari-Regular.ttf"),
    "Hebrew": ("דוד כהן", "NotoSansHebrew-Regular.ttf"),
    "Bengali": ("রবীন্দ্রনাথ", "NotoSansBengali-Regular.ttf"),
    "Tamil": ("முருகன்", "NotoSansTamil-Regular.ttf"),
    "Thai": ("สมชาย", "NotoSansThai-Regular.ttf"),
    "Armenian": ("Արամ", "NotoSansArmenian-Regular.ttf"),
    "Georgian": ("გიორგი", "NotoSansGeorgian-Regular.ttf"),
}


def gradient_png(width: int = 800, height: int = 600) -> bytes:
    red = Image.linear_gradient("L").resize((width, height))
    picture = Image.merge("RGB", (red, red.transpose(Image.Transpose.FLIP_LEFT_RIGHT), red))
    buffer = BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    image.load()
    return image.convert("RGB")


def glyph_name(font: WatermarkFont, char: str) -> str:
    with TTFont(font.path, lazy=True, fontNumber=font.index) as parsed:
        return str(parsed.getBestCmap().get(ord(char), ".notdef"))


def rendered(text: str, font: ImageFont.FreeTypeFont, direction: str | None = None
             ) -> Image.Image:
    canvas = Image.new("L", (900, 160), 0)
    ImageDraw.Draw(canvas).text((20, 110), text, font=font, fill=255, anchor="ls",
                                direction=direction)
    return canvas


@pytest.mark.parametrize("script", list(NAMES))
def test_a_name_in_each_script_is_drawn_in_the_corner(script: str) -> None:
    name, _ = NAMES[script]
    raw = gradient_png()
    plain = decoded(export_image(raw, fmt=PNG).data)
    marked = decoded(export_image(raw, fmt=PNG, watermark=name).data)
    box = ImageChops.difference(plain, marked).getbbox()
    assert box is not None, script
    left, top, right, bottom = box
    assert left > 200 and top > 500 and right < 800 and bottom < 600, box


@pytest.mark.parametrize("script", list(NAMES))
def test_every_letter_comes_from_a_font_that_has_it(script: str) -> None:
    name, expected_file = NAMES[script]
    runs = visual_runs(name)
    assert sorted("".join(r.text for r in runs)) == sorted(name)  # nothing lost or added
    for run in runs:
        for char in run.text:
            assert glyph_name(run.font, char) != ".notdef", (script, char, run.font.path.name)
    letters = {run.font.path.name for run in runs if not run.text.isspace()}
    assert letters == {expected_file}, (script, letters)


@pytest.mark.parametrize("script", list(NAMES))
def test_no_letter_is_drawn_as_the_missing_glyph_box(script: str) -> None:
    # What Pillow draws for a character the font lacks (U+E000, private use, is in none of
    # them): the .notdef box. Each drawn character must look different from it.
    name, _ = NAMES[script]
    for run in visual_runs(name):
        font = pillow_font(run.font, 48)
        box = rendered("\ue000", font)
        for char in set(run.text) - {" "}:
            assert ImageChops.difference(rendered(char, font), box).getbbox(), (script, char)


@pytest.mark.parametrize(("text", "file"), [("محمد", "NotoSansArabic-Regular.ttf"),
                                            ("अर्जुन", "NotoSansDevanagari-Regular.ttf")])
def test_complex_scripts_are_shaped(text: str, file: str) -> None:
    # Raqm joins the Arabic letters and forms the Devanagari conjunct (र्ज); Pillow's basic
    # layout draws each character's lone form in a row.
    font = next(f for f in WATERMARK_FONTS if f.path.name == file)
    raqm = pillow_font(font, 48)
    assert raqm.layout_engine == ImageFont.Layout.RAQM
    basic = ImageFont.truetype(str(font.path), 48, layout_engine=ImageFont.Layout.BASIC)
    direction = "rtl" if file.startswith("NotoSansArabic") else "ltr"
    assert ImageChops.difference(rendered(text, raqm, direction),
                                 rendered(text, basic)).getbbox() is not None
    assert raqm.getlength(text, direction=direction) != basic.getlength(text)
    # The stored pixels really are what the watermark draws with: Raqm, in that direction.
    assert [(r.font, r.direction) for r in visual_runs(text)] == [(font, direction)]


def alef_side(image: Image.Image) -> str:
    """Which half of the drawn "ا ب" holds the alef (a tall stroke, rising far above the
    beh's bowl)."""
    box = image.getbbox()
    assert box is not None
    left, _, right, _ = box
    middle = (left + right) // 2
    right_half = image.crop((middle, 0, right, image.height)).getbbox()
    left_half = image.crop((left, 0, middle, image.height)).getbbox()
    assert right_half is not None and left_half is not None
    return "right" if right_half[1] < left_half[1] - 10 else "left"


def test_arabic_is_drawn_right_to_left() -> None:
    # Alef comes first in memory, so it must be drawn at the right end; Pillow's basic layout
    # (no Raqm) would draw it at the left.
    font = next(f for f in WATERMARK_FONTS if f.path.name == "NotoSansArabic-Regular.ttf")
    runs = visual_runs("ا ب")
    assert [(r.text, r.direction) for r in runs] == [("ا ب", "rtl")]
    assert alef_side(rendered("ا ب", pillow_font(font, 64), "rtl")) == "right"
    basic = ImageFont.truetype(str(font.path), 64, layout_engine=ImageFont.Layout.BASIC)
    assert alef_side(rendered("ا ب", basic)) == "left"


@pytest.mark.parametrize(("text", "expected"), [
    ("John محمد", [("John ", "ltr"), ("محمد", "rtl")]),
    ("محمد, John", [("John", "ltr"), ("محمد, ", "rtl")]),
    ("Ana 李 محمد", [("Ana ", "ltr"), ("李 ", "ltr"), ("محمد", "rtl")]),
    # The space after "Anna" is drawn in Anna's font, going the paragraph's way (right to left).
    ("شكرا Anna و Bob", [("Bob", "ltr"), ("و ", "rtl"), (" ", "rtl"), ("Anna", "ltr"),
                         ("شكرا ", "rtl")]),
    ("© Jane Doe 2026", [("© Jane Doe 2026", "ltr")]),
])
def test_mixed_scripts_are_runs_in_display_order(text: str, expected: list[tuple[str, str]]
                                                 ) -> None:
    assert [(r.text, r.direction) for r in visual_runs(text)] == expected


def test_a_mixed_script_watermark_uses_several_fonts() -> None:
    text = "Ana 李 محمد अर्जुन Дима"
    runs: list[Run] = visual_runs(text)
    assert len({run.font for run in runs}) == 4
    raw = gradient_png(1200, 800)
    plain = decoded(export_image(raw, fmt=PNG).data)
    marked = decoded(export_image(raw, fmt=PNG, watermark=text).data)
    assert ImageChops.difference(plain, marked).getbbox() is not None


@pytest.mark.parametrize("char", ["🦄", "𐀀", "𓀀", "\U000e0100"])
def test_characters_no_font_has(char: str) -> None:
    assert font_for(char) is None
    with pytest.raises(ValueError, match=f"U\\+{ord(char):04X}"):
        visual_runs(f"Jane {char}")


def test_the_image_keeps_exactly_the_noto_faces_the_watermark_uses() -> None:
    # The Dockerfile installs fonts-noto-core with dpkg leaving out every face but those it
    # names: a face added to WATERMARK_FONTS and not there would be missing in production.
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    kept = set(re.findall(r'"path-include=\$noto/([\w-]+\.ttf)"', dockerfile))
    used = {font.path.name for font in WATERMARK_FONTS if font.package == "fonts-noto-core"}
    assert kept == used
    assert re.search(r"apt-get install[^&]*fonts-noto-core", dockerfile)
    for package in {font.package for font in WATERMARK_FONTS} | {"libfribidi0"}:
        assert package in dockerfile


def test_a_zero_width_non_joiner_keeps_a_persian_name_apart() -> None:
    # "Alizadeh" with U+200C between its parts, as Persian spells it: drawn, and unjoined.
    joined, apart = "علیزاده", "علی\u200cزاده"
    raw = gradient_png()
    with_zwnj = decoded(export_image(raw, fmt=PNG, watermark=apart).data)
    without = decoded(export_image(raw, fmt=PNG, watermark=joined).data)
    assert ImageChops.difference(with_zwnj, without).getbbox() is not None
    assert [r.text for r in visual_runs(apart)] == [apart]  # one run: shaped as one text
