"""Render PV Monitor's brand images from one drawing: the add-on's store images and the integration's
brand images for Home Assistant.

    .venv/bin/python -m scripts.brand_images          # write every image
    .venv/bin/python -m scripts.brand_images --check  # exit 1 if a committed image differs from the drawing

The artwork is the project's own: a sun over a photovoltaic panel (the "mark") and, in the logos, a day's
production curve beside it. Everything is drawn here from plain shapes with Pillow (which Home Assistant
already brings), 4x supersampled and scaled down for anti-aliased edges.

Outputs and the rules they follow:

- `addon/icon.png` 128 x 128 and `addon/logo.png` 250 x 100: the add-on store's sizes (Home Assistant's
  add-on documentation, "Add-on presentation"); the icon keeps its light tile, as in the store.
- `addon/collector/pv_collector/web/static/icon.png` and `icon-dark.png` 64 x 64: the mark in the toolbar of
  the collector's own page (docs/collector-page.md), for light and dark themes.
- `custom_components/pv_monitor/brand/`: the images Home Assistant >= 2026.3 serves for a custom integration
  at `/api/brands/integration/pv_monitor/<image>` (developers.home-assistant.io, "Brand images"), made to
  the home-assistant/brands README "Image specification": PNG, transparent background, trimmed (no empty
  border), icons square 256 x 256 and 512 x 512 (`@2x`), logos landscape with the shortest side 256 and
  512 (`@2x`; the largest allowed, which the README prefers). `dark_*` variants exist because the light
  ones' dark-blue panel cells (relative luminance 0.05) nearly vanish on Home Assistant's dark theme
  (card colour #1c1c1c: contrast 1.6:1); the dark ones use a brighter blue (3.1:1) and lighter grid.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
BRAND_DIR = ROOT / "custom_components" / "pv_monitor" / "brand"
ADDON_DIR = ROOT / "addon"
PAGE_DIR = ROOT / "addon" / "collector" / "pv_collector" / "web" / "static"  # the collector's own page
SUPERSAMPLE = 4

type Color = tuple[int, int, int, int]
type Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Palette:
    """Colours of one theme (RGBA)."""

    sun: Color
    curve_edge: Color
    cell: Color
    grid: Color
    frame: Color  # panel frame, post and the curve's baseline


LIGHT = Palette(
    sun=(255, 190, 30, 255),
    curve_edge=(230, 140, 20, 255),
    cell=(22, 60, 130, 255),
    grid=(120, 160, 220, 255),
    frame=(200, 210, 225, 255),
)
DARK = Palette(
    sun=(255, 196, 46, 255),
    curve_edge=(240, 150, 30, 255),
    cell=(40, 100, 200, 255),
    grid=(165, 195, 240, 255),
    frame=(205, 215, 230, 255),
)
TILE = (235, 245, 255, 255)  # the add-on icon's background tile

# ----------------------------------------------------------------------------------------------- geometry
# Design units: the mark fits in x 0..104, y 0..118 (sun above, panel below, post under the panel).
SUN_CENTER: Point = (70.0, 33.0)
SUN_RADIUS = 20.0
RAY_INNER, RAY_OUTER, RAY_WIDTH, RAYS = 26.0, 34.0, 6.0, 12
PANEL_TOP_Y, PANEL_BOTTOM_Y = 60.0, 108.0
PANEL_TOP_X, PANEL_BOTTOM_X = (14.0, 90.0), (0.0, 104.0)
PANEL_COLUMNS, PANEL_ROWS = 4, 3
FRAME_WIDTH, GRID_WIDTH = 2.0, 1.6
POST_X, POST_BOTTOM = (48.0, 56.0), 118.0
MARK_SIZE: Point = (104.0, 118.0)
# The production curve of the logo, right of the mark: a bell over a baseline, in the mark's units.
CURVE_LEFT, CURVE_RIGHT, CURVE_GAP = 0.0, 150.0, 14.0
CURVE_PEAK_HEIGHT, CURVE_SIGMA = 70.0, 22.0
CURVE_EDGE_WIDTH, BASELINE_HEIGHT = 3.0, 4.0


class Canvas:
    """An RGBA drawing surface in design units: `scale` pixels per unit, offset by `origin` (pixels)."""

    def __init__(self, size: tuple[int, int], scale: float, origin: Point = (0.0, 0.0)) -> None:
        self.size = size
        self.image = Image.new("RGBA", (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE), (0, 0, 0, 0))
        self.draw = ImageDraw.Draw(self.image)
        self.scale = scale * SUPERSAMPLE
        self.origin = (origin[0] * SUPERSAMPLE, origin[1] * SUPERSAMPLE)

    def at(self, point: Point) -> tuple[float, float]:
        return (self.origin[0] + point[0] * self.scale, self.origin[1] + point[1] * self.scale)

    def polygon(self, points: Iterable[Point], fill: Color) -> None:
        self.draw.polygon([self.at(p) for p in points], fill=fill)

    def line(self, points: Iterable[Point], fill: Color, width: float) -> None:
        self.draw.line(
            [self.at(p) for p in points], fill=fill, width=max(1, round(width * self.scale)), joint="curve"
        )

    def circle(self, center: Point, radius: float, fill: Color) -> None:
        x, y = self.at(center)
        r = radius * self.scale
        self.draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)

    def rounded_rectangle(self, box: tuple[float, float, float, float], radius: float, fill: Color) -> None:
        (x0, y0), (x1, y1) = self.at(box[:2]), self.at(box[2:])
        self.draw.rounded_rectangle((x0, y0, x1, y1), radius=radius * self.scale, fill=fill)

    def finish(self) -> Image.Image:
        """Scaled down to the target size (Pillow premultiplies alpha for RGBA resampling)."""
        return self.image.resize(self.size, Image.Resampling.LANCZOS)


def _lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def draw_mark(canvas: Canvas, palette: Palette, offset: Point = (0.0, 0.0)) -> None:
    """The sun over a PV panel on its post, top-left corner of its box at `offset` (design units)."""
    ox, oy = offset

    def moved(points: Iterable[Point]) -> list[Point]:
        return [(x + ox, y + oy) for x, y in points]

    cx, cy = SUN_CENTER
    for index in range(RAYS):
        angle = 2 * math.pi * index / RAYS
        dx, dy = math.cos(angle), math.sin(angle)
        nx, ny = -dy * RAY_WIDTH / 2, dx * RAY_WIDTH / 2
        inner = (cx + dx * RAY_INNER, cy + dy * RAY_INNER)
        outer = (cx + dx * RAY_OUTER, cy + dy * RAY_OUTER)
        canvas.polygon(
            moved(
                [
                    (inner[0] + nx, inner[1] + ny),
                    (outer[0] + nx, outer[1] + ny),
                    (outer[0] - nx, outer[1] - ny),
                    (inner[0] - nx, inner[1] - ny),
                ]
            ),
            palette.sun,
        )
    canvas.circle((cx + ox, cy + oy), SUN_RADIUS, palette.sun)

    canvas.polygon(
        moved(
            [
                (POST_X[0], PANEL_BOTTOM_Y - 2),
                (POST_X[1], PANEL_BOTTOM_Y - 2),
                (POST_X[1], POST_BOTTOM),
                (POST_X[0], POST_BOTTOM),
            ]
        ),
        palette.frame,
    )
    top_left, top_right = (PANEL_TOP_X[0], PANEL_TOP_Y), (PANEL_TOP_X[1], PANEL_TOP_Y)
    bottom_left, bottom_right = (PANEL_BOTTOM_X[0], PANEL_BOTTOM_Y), (PANEL_BOTTOM_X[1], PANEL_BOTTOM_Y)
    canvas.polygon(moved([top_left, top_right, bottom_right, bottom_left]), palette.frame)

    # Cells inside the frame: the trapezoid shrunk by the frame width, then split by the grid lines.
    inset = FRAME_WIDTH
    slope_left = (PANEL_TOP_X[0] - PANEL_BOTTOM_X[0]) / (PANEL_BOTTOM_Y - PANEL_TOP_Y)
    slope_right = (PANEL_BOTTOM_X[1] - PANEL_TOP_X[1]) / (PANEL_BOTTOM_Y - PANEL_TOP_Y)
    y0, y1 = PANEL_TOP_Y + inset, PANEL_BOTTOM_Y - inset
    inner_tl = (PANEL_TOP_X[0] - slope_left * inset + inset * 1.2, y0)
    inner_tr = (PANEL_TOP_X[1] + slope_right * inset - inset * 1.2, y0)
    inner_bl = (PANEL_BOTTOM_X[0] + slope_left * inset + inset * 1.2, y1)
    inner_br = (PANEL_BOTTOM_X[1] - slope_right * inset - inset * 1.2, y1)
    canvas.polygon(moved([inner_tl, inner_tr, inner_br, inner_bl]), palette.cell)
    for column in range(1, PANEL_COLUMNS):
        t = column / PANEL_COLUMNS
        canvas.line(
            moved([_lerp(inner_tl, inner_tr, t), _lerp(inner_bl, inner_br, t)]), palette.grid, GRID_WIDTH
        )
    for row in range(1, PANEL_ROWS):
        t = row / PANEL_ROWS
        canvas.line(
            moved([_lerp(inner_tl, inner_bl, t), _lerp(inner_tr, inner_br, t)]), palette.grid, GRID_WIDTH
        )


def draw_curve(canvas: Canvas, palette: Palette, left: float, baseline: float) -> None:
    """A clear day's production: a bell from `left` (design units) over a baseline at y = `baseline`."""
    width = CURVE_RIGHT - CURVE_LEFT
    center = left + width / 2
    steps = 120
    xs = [left + width * i / steps for i in range(steps + 1)]
    top = [(x, baseline - CURVE_PEAK_HEIGHT * math.exp(-(((x - center) / CURVE_SIGMA) ** 2) / 2)) for x in xs]
    canvas.polygon([*top, (left + width, baseline), (left, baseline)], palette.sun)
    canvas.line(top, palette.curve_edge, CURVE_EDGE_WIDTH)
    canvas.polygon(
        [
            (left, baseline - BASELINE_HEIGHT / 2),
            (left + width, baseline - BASELINE_HEIGHT / 2),
            (left + width, baseline + BASELINE_HEIGHT / 2),
            (left, baseline + BASELINE_HEIGHT / 2),
        ],
        palette.frame,
    )


# ------------------------------------------------------------------------------------------------ layouts
def trimmed(image: Image.Image) -> Image.Image:
    """`image` cropped to its visible pixels (alpha > 0)."""
    box = image.getchannel("A").getbbox()
    assert box is not None, "nothing was drawn"
    return image.crop(box)


def icon(size: int, palette: Palette) -> Image.Image:
    """The mark alone, fitted into a transparent square touching two opposite edges (brands: trimmed)."""
    # Draw large, trim to the visible pixels, then fit the longer side to the square.
    scale = size * 2 / max(MARK_SIZE)
    canvas = Canvas((math.ceil(MARK_SIZE[0] * scale) + 4, math.ceil(MARK_SIZE[1] * scale) + 4), scale, (2, 2))
    draw_mark(canvas, palette)
    mark = trimmed(canvas.finish())
    factor = size / max(mark.size)
    fitted = mark.resize(
        (max(1, round(mark.width * factor)), max(1, round(mark.height * factor))), Image.Resampling.LANCZOS
    )
    out = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    out.alpha_composite(fitted, ((size - fitted.width) // 2, (size - fitted.height) // 2))
    return out


def logo_artwork(height_px: int, palette: Palette) -> Image.Image:
    """Mark and production curve side by side, trimmed, `height_px` high (a copy of the one drawing)."""
    return _logo_artwork(height_px, palette).copy()


@functools.cache
def _logo_artwork(height_px: int, palette: Palette) -> Image.Image:
    # Drawn once per size and palette: the logo and its @2x come from the same artwork (seconds each).
    total_w = MARK_SIZE[0] + CURVE_GAP + (CURVE_RIGHT - CURVE_LEFT)
    scale = height_px * 2 / MARK_SIZE[1]
    canvas = Canvas((math.ceil(total_w * scale) + 4, math.ceil(MARK_SIZE[1] * scale) + 4), scale, (2, 2))
    draw_mark(canvas, palette)
    draw_curve(canvas, palette, MARK_SIZE[0] + CURVE_GAP, PANEL_BOTTOM_Y)
    art = trimmed(canvas.finish())
    factor = height_px / art.height
    return art.resize((round(art.width * factor), height_px), Image.Resampling.LANCZOS)


def logo(height: int, palette: Palette, hdpi: bool = False) -> Image.Image:
    """The logo `height` high; the normal one is the hDPI one halved, so `@2x` is exactly twice its size."""
    if hdpi:
        return logo_artwork(height * 2, palette)
    art = logo_artwork(height * 2, palette)
    return art.resize((art.width // 2, height), Image.Resampling.LANCZOS)


def addon_icon() -> Image.Image:
    """128 x 128: the mark on the light rounded tile the add-on store has always shown."""
    size = 128
    canvas = Canvas((size, size), 1.0)
    canvas.rounded_rectangle((0, 0, size, size), 22, TILE)
    tile = canvas.finish()
    mark = icon(100, LIGHT)
    tile.alpha_composite(mark, ((size - mark.width) // 2, (size - mark.height) // 2 + 2))
    return tile


def addon_logo() -> Image.Image:
    """250 x 100 (the store's logo box), the logo artwork centred on a transparent background."""
    width, height = 250, 100
    art = logo_artwork(92, LIGHT)
    if art.width > width - 8:
        art = art.resize((width - 8, round(art.height * (width - 8) / art.width)), Image.Resampling.LANCZOS)
    out = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    out.alpha_composite(art, ((width - art.width) // 2, (height - art.height) // 2))
    return out


# ----------------------------------------------------------------------------------------------- outputs
def renderers() -> dict[Path, Callable[[], Image.Image]]:
    """Every image the project ships, by path, with the function that draws it."""
    return {
        ADDON_DIR / "icon.png": addon_icon,
        ADDON_DIR / "logo.png": addon_logo,
        BRAND_DIR / "icon.png": lambda: icon(256, LIGHT),
        BRAND_DIR / "icon@2x.png": lambda: icon(512, LIGHT),
        BRAND_DIR / "dark_icon.png": lambda: icon(256, DARK),
        BRAND_DIR / "dark_icon@2x.png": lambda: icon(512, DARK),
        BRAND_DIR / "logo.png": lambda: logo(256, LIGHT),
        BRAND_DIR / "logo@2x.png": lambda: logo(256, LIGHT, hdpi=True),
        BRAND_DIR / "dark_logo.png": lambda: logo(256, DARK),
        BRAND_DIR / "dark_logo@2x.png": lambda: logo(256, DARK, hdpi=True),
        PAGE_DIR / "icon.png": lambda: icon(64, LIGHT),  # the page's toolbar and favicon, light themes
        PAGE_DIR / "icon-dark.png": lambda: icon(64, DARK),
    }


def differs(path: Path, image: Image.Image, tolerance: int = 8) -> str | None:
    """Why the PNG at `path` is not `image` (size, mode, a channel off by more than `tolerance`), or None."""
    if not path.is_file():
        return "missing"
    with Image.open(path) as stored:
        if stored.size != image.size or stored.mode != image.mode:
            return f"{stored.size} {stored.mode}, drawing is {image.size} {image.mode}"
        extrema = ImageChops.difference(stored, image).getextrema()
    worst = max(high for _low, high in extrema)  # type: ignore[misc]
    return None if worst <= tolerance else f"pixels differ by up to {worst}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare the committed images")
    args = parser.parse_args(argv)
    status = 0
    for path, render in renderers().items():
        image = render()
        name = path.relative_to(ROOT)
        if args.check:
            if (problem := differs(path, image)) is not None:
                print(f"{name}: {problem}; run `.venv/bin/python -m scripts.brand_images`")
                status = 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, optimize=True)
        print(f"{name}: {image.width} x {image.height}")
    return status


if __name__ == "__main__":
    sys.exit(main())
