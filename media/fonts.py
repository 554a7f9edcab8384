"""The watermark's fonts: which installed font draws which character, and in which direction.

No one font has every script people's names are written in, so each character gets the first
font of WATERMARK_FONTS made for its script that has it, or else the first font that has it at
all. Whether a font has a character is read from its own character map (fontTools), because
Pillow silently draws a "missing glyph" box for the others. The fonts come from Debian packages:
DejaVu Sans (`fonts-dejavu-core`: Latin, Greek, Cyrillic), Noto Sans for each other script
(`fonts-noto-core`: Arabic, Hebrew, Devanagari and the other Indic scripts, Thai, Armenian,
Georgian, Ethiopic...) and WenQuanYi Micro Hei (`fonts-wqy-microhei`: Chinese, Japanese kana and
kanji, Korean Hangul; 5 MB where Noto Sans CJK is 91 MB).

Text is drawn in runs of one font and one direction. Characters of no script of their own
(spaces, digits, punctuation: Unicode's "Common") and combining marks ("Inherited") join a
neighbouring run, so a name's spaces and accents stay with it. The runs are ordered for display
by a reduced Unicode bidirectional algorithm, enough for a one-line text without the explicit
direction controls (media/export.py refuses those): the paragraph's direction is its first
letter's, neutral characters between two runs of one direction take that direction and
otherwise the paragraph's, and each stretch of runs against the paragraph's direction is
reversed. Within a run, Pillow's Raqm layout (HarfBuzz and FriBiDi) shapes the text: Arabic
letters joined and right to left, Devanagari conjuncts formed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from fontTools import unicodedata as fonttools_unicodedata
from fontTools.ttLib import TTFont
from PIL import ImageFont, features

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_NOTO = Path("/usr/share/fonts/truetype/noto")
_WQY = Path("/usr/share/fonts/truetype/wqy")


@dataclass(frozen=True)
class WatermarkFont:
    path: Path
    package: str  # the Debian package that ships `path`
    scripts: frozenset[str]  # ISO 15924 codes of the scripts it is the first choice for
    index: int = 0  # the face inside a font collection (.ttc)


def _noto(name: str, *scripts: str) -> WatermarkFont:
    return WatermarkFont(_NOTO / f"{name}-Regular.ttf", "fonts-noto-core", frozenset(scripts))


# In order of preference. Dockerfile keeps exactly these files of fonts-noto-core.
WATERMARK_FONTS: tuple[WatermarkFont, ...] = (
    WatermarkFont(_DEJAVU / "DejaVuSans.ttf", "fonts-dejavu-core",
                  frozenset({"Latn", "Grek", "Cyrl", "Zyyy", "Zinh"})),
    _noto("NotoSansArabic", "Arab"),
    _noto("NotoSansHebrew", "Hebr"),
    _noto("NotoSansDevanagari", "Deva"),
    _noto("NotoSansBengali", "Beng"),
    _noto("NotoSansGurmukhi", "Guru"),
    _noto("NotoSansGujarati", "Gujr"),
    _noto("NotoSansOriya", "Orya"),
    _noto("NotoSansTamil", "Taml"),
    _noto("NotoSansTelugu", "Telu"),
    _noto("NotoSansKannada", "Knda"),
    _noto("NotoSansMalayalam", "Mlym"),
    _noto("NotoSansSinhala", "Sinh"),
    _noto("NotoSansThai", "Thai"),
    _noto("NotoSansLao", "Laoo"),
    _noto("NotoSansKhmer", "Khmr"),
    _noto("NotoSansMyanmar", "Mymr"),
    _noto("NotoSansArmenian", "Armn"),
    _noto("NotoSansGeorgian", "Geor"),
    _noto("NotoSansEthiopic", "Ethi"),
    _noto("NotoSansThaana", "Thaa"),
    _noto("NotoSansSyriac", "Syrc"),
    _noto("NotoSerifTibetan", "Tibt"),
    _noto("NotoSansCherokee", "Cher"),
    _noto("NotoSansTifinagh", "Tfng"),
    _noto("NotoSansYi", "Yiii"),
    _noto("NotoSansAdlam", "Adlm"),
    _noto("NotoSansNKo", "Nkoo"),
    _noto("NotoSansOlChiki", "Olck"),
    _noto("NotoSansJavanese", "Java"),
    WatermarkFont(_WQY / "wqy-microhei.ttc", "fonts-wqy-microhei",
                  frozenset({"Hani", "Hira", "Kana", "Hang", "Bopo"})),
    # Latin, Greek and Cyrillic letters DejaVu Sans lacks.
    _noto("NotoSans", "Latn", "Grek", "Cyrl"),
)

_NEUTRAL_SCRIPTS = frozenset({"Zyyy", "Zinh", "Zzzz"})  # Common, Inherited, Unknown


@dataclass(frozen=True)
class Run:
    """A stretch of text drawn with one font in one direction ("ltr" or "rtl")."""

    text: str
    font: WatermarkFont
    direction: str


@cache
def _cmap(font: WatermarkFont) -> frozenset[int]:
    """The code points `font` has a glyph for; a missing file is a deployment error, never a
    quiet fallback to Pillow's bitmap font."""
    try:
        with TTFont(font.path, lazy=True, fontNumber=font.index) as parsed:
            return frozenset(parsed.getBestCmap())
    except OSError as exc:
        raise RuntimeError(
            f"The watermark font {font.path} is missing: install the Debian package "
            f"{font.package}."
        ) from exc


def font_for(char: str, script: str | None = None) -> WatermarkFont | None:
    """The font to draw `char` with (preferring one made for `script`, by default the
    character's own), or None when no installed font has it."""
    code = ord(char)
    script = script or fonttools_unicodedata.script(char)
    # Lazily, so a Latin name reads one character map, not thirty-two.
    preferred = next((font for font in WATERMARK_FONTS
                      if script in font.scripts and code in _cmap(font)), None)
    return preferred or next((font for font in WATERMARK_FONTS if code in _cmap(font)), None)


@lru_cache(maxsize=64)  # per font and size in use; parsing a font per export is waste
def pillow_font(font: WatermarkFont, size: int) -> ImageFont.FreeTypeFont:
    if not features.check("raqm"):
        # Without Raqm, Pillow draws Arabic unjoined and left to right: wrong, not just plain.
        raise RuntimeError("Pillow's Raqm layout is unavailable: install libfribidi0.")
    return ImageFont.truetype(str(font.path), size, index=font.index,
                              layout_engine=ImageFont.Layout.RAQM)


def visual_runs(text: str) -> list[Run]:
    """`text` cut into runs of one font and one direction, in display order (left to right).
    Every character must have a font (`font_for`); ValueError names the first that has none."""
    own = [fonttools_unicodedata.script(char) for char in text]
    scripts = _resolved_scripts(own)
    directions, paragraph = _resolved_directions(own)
    runs: list[Run] = []
    for char, script, direction in zip(text, scripts, directions, strict=True):
        font = font_for(char, script)
        if font is None:
            raise ValueError(f"no font has U+{ord(char):04X}")
        if runs and runs[-1].font == font and runs[-1].direction == direction:
            runs[-1] = Run(runs[-1].text + char, font, direction)
        else:
            runs.append(Run(char, font, direction))
    return _display_order(runs, paragraph)


def _resolved_scripts(own: list[str]) -> list[str]:
    """Each character's script for choosing its font: Common and Inherited characters take
    the script before them (at the start, the first one after them)."""
    previous = next((s for s in own if s not in _NEUTRAL_SCRIPTS), "Zyyy")
    resolved = []
    for script in own:
        previous = previous if script in _NEUTRAL_SCRIPTS else script
        resolved.append(previous)
    return resolved


def _direction_of(script: str) -> str:
    horizontal = fonttools_unicodedata.script_horizontal_direction(script, "LTR")
    return "rtl" if horizontal == "RTL" else "ltr"


def _resolved_directions(own: list[str]) -> tuple[list[str], str]:
    """Each character's direction, and the paragraph's (its first letter's). A letter has
    its script's; a combining mark (Inherited) its base letter's; a neutral character that of
    the letters on both sides when they agree, otherwise the paragraph's (the text's ends
    count as the paragraph's direction)."""
    strong = [None if s in _NEUTRAL_SCRIPTS else _direction_of(s) for s in own]
    paragraph = next((d for d in strong if d), "ltr")
    resolved: list[str] = []
    for i, direction in enumerate(strong):
        if direction is None and own[i] == "Zinh" and resolved:
            direction = resolved[-1]
        if direction is None:
            before = next((d for d in reversed(strong[:i]) if d), paragraph)
            after = next((d for d in strong[i + 1:] if d), paragraph)
            direction = before if before == after else paragraph
        resolved.append(direction)
    return resolved, paragraph


def _display_order(runs: list[Run], paragraph: str) -> list[Run]:
    """Runs left to right: the paragraph's direction decides the outer order, and each
    stretch of runs going the other way keeps its own order inside it."""
    ordered = list(reversed(runs)) if paragraph == "rtl" else list(runs)
    result: list[Run] = []
    stretch: list[Run] = []
    for run in ordered:
        if run.direction != paragraph:
            stretch.append(run)
            continue
        result.extend(reversed(stretch))
        stretch = []
        result.append(run)
    result.extend(reversed(stretch))
    return result
