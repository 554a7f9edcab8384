"""What the checks read from a HEIF file (HEIC, AVIF) before any decoder sees it.

HEIF is an ISO base media file (ISO/IEC 14496-12, 23008-12): a sequence of boxes, each a
32-bit size and a four-letter type. The `ftyp` box first names the brands the file follows
(`heic`: HEVC-coded images, the iPhone camera's; `avif`: AV1-coded), and every image item
declares its width and height in an `ispe` property inside `meta` → `iprp` → `ipco`. Both are
read here from the bytes alone, so the format is decided by content and a decompression bomb
(a file declaring 50000x50000 pixels in a few hundred bytes) is refused before libheif or
libavif is handed it.
"""

from __future__ import annotations

from collections.abc import Iterator

from media.formats import AVIF, HEIC, ImageFormat

# Brands of files whose images are HEVC-coded: single images, their variants, sequences.
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
# The generic HEIF brands say nothing of the codec: the compatible brands then decide.
_GENERIC_BRANDS = frozenset({b"mif1", b"msf1", b"miaf"})
_MAX_FTYP_SIZE = 4096  # a brand list longer than that is no camera's


def brand_format(data: bytes) -> ImageFormat | None:
    """HEIC or AVIF when `data` starts with an `ftyp` box naming one of their brands."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    size = int.from_bytes(data[0:4], "big")
    if not 16 <= size <= min(len(data), _MAX_FTYP_SIZE) or size % 4:
        return None
    major = data[8:12]
    compatible = {data[i:i + 4] for i in range(16, size, 4)}
    for brands in ([major], compatible) if major in _GENERIC_BRANDS else ([major],):
        if _AVIF_BRANDS.intersection(brands):
            return AVIF
        if _HEIC_BRANDS.intersection(brands):
            return HEIC
    return None


def largest_declared_size(data: bytes) -> tuple[int, int] | None:
    """The largest width x height any image item of the file declares (its `ispe`
    properties), or None when the boxes leading there are missing or malformed, or when the
    file's top-level boxes do not add up to the file.

    The largest, not the primary item's: a grid's tiles, thumbnails and alpha planes are each
    an image libheif may decode, and none of them may be larger than the budget either.
    The whole top level is walked because a file cut short shows only there (its last box,
    the coded pixels' `mdat`, overruns the end): libde265 would conceal the missing end of a
    picture rather than fail, and a truncated upload is refused, never padded. Bytes after the
    last box (a polyglot's payload) overrun the same way."""
    try:
        top_level = list(_boxes(data, 0, len(data)))  # every box, to the end of the file
        meta = next(((start, end) for kind, start, end in top_level if kind == b"meta"), None)
        if meta is None:
            return None
        # `meta` is a full box: a version byte and three bytes of flags precede its children.
        iprp = _child(data, meta[0] + 4, meta[1], b"iprp")
        ipco = _child(data, iprp[0], iprp[1], b"ipco") if iprp else None
        if ipco is None:
            return None
        sizes = [
            (int.from_bytes(data[start + 4:start + 8], "big"),
             int.from_bytes(data[start + 8:start + 12], "big"))
            for kind, start, end in _boxes(data, ipco[0], ipco[1])
            if kind == b"ispe" and end - start >= 12
        ]
    except ValueError:
        return None
    return max(sizes, key=lambda size: size[0] * size[1]) if sizes else None


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """(payload start, payload end) of the first box of type `kind` between start and end."""
    return next(((s, e) for k, s, e in _boxes(data, start, end) if k == kind), None)


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box between start and end; ValueError
    for a box whose size is impossible (overlapping its parent's end, or below its header)."""
    position = start
    while position < end:
        if position + 8 > end:
            raise ValueError("bytes after the last box")
        size = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        header = 8
        if size == 1:  # a 64-bit size follows the type
            if position + 16 > end:
                raise ValueError("truncated box header")
            size = int.from_bytes(data[position + 8:position + 16], "big")
            header = 16
        elif size == 0:  # the box runs to the end of its parent
            size = end - position
        if size < header or position + size > end:
            raise ValueError(f"box {kind!r} of impossible size {size}")
        yield kind, position + header, position + size
        position += size
