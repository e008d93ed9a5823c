"""The register-image fixtures (tests/fixtures/devices/<profile>/<name>.json) and how the collector
decodes them: the same SunSpec scan, read plan and decoder as for a live device."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pv_collector import sunspec
from pv_collector.model import Point, Profile, Value
from pv_collector.profile import load_profile
from pv_collector.recording import ImageReader, read_values
from pv_collector.register_image import Refusal, RegisterImage, SourceKind, load_image

FIXTURES = Path(__file__).parents[1] / "fixtures" / "devices"


def image_paths(profile: str | None = None) -> list[Path]:
    """Every image file, or those of one profile."""
    pattern = f"{profile}/*.json" if profile else "*/*.json"
    return sorted(FIXTURES.glob(pattern))


def image_name(path: Path) -> str:
    """`profile/name` of an image file (the test id)."""
    return f"{path.parent.name}/{path.stem}"


@dataclass(frozen=True)
class Decoded:
    """An image, its profile, the device's points (SunSpec: as scanned) and what the collector decodes."""

    image: RegisterImage
    profile: Profile
    points: tuple[Point, ...]
    values: dict[str, Value]
    refused: list[Refusal]
    sunspec: sunspec.SunSpecDevice | None

    def readable(self, point: Point) -> bool:
        """Whether the image holds the point's registers and does not refuse them."""
        image = self.image
        return image.has(point.function, point.address, point.words) and (
            image.refusal(point.function, point.address, point.words) is None
        )

    @property
    def not_available(self) -> list[str]:
        """Points of the device the collector decodes no value for (not implemented, or not in the image)."""
        return sorted(p.key for p in self.points if p.kind != "action" and p.key not in self.values)


async def decode(path: Path | str) -> Decoded:
    """Decode an image file with the profile it names."""
    file = FIXTURES / path if isinstance(path, str) else path
    image = load_image(file)
    profile = load_profile(image.identity.profile)
    reader = ImageReader(image)
    values, points, refused = await read_values(reader, profile)
    found = await sunspec.scan(ImageReader(image), profile) if profile.sunspec_base is not None else None
    return Decoded(image, profile, points, values, refused, found)


def from_device(path: Path) -> bool:
    """Whether the image comes from a real device."""
    return load_image(path).source.kind is SourceKind.DEVICE


def tolerance(point: Point, shown: float) -> float:
    """Half a unit of the last digit shown, or of the point's precision if that is coarser: a value
    shown as 99 % matches 98.8 %, a value shown as 230.6 V matches 230.6 but not 230.7."""
    decimals = 0 if isinstance(shown, int) else max(0, -int(Decimal(repr(shown)).as_tuple().exponent))
    if point.precision is not None:
        decimals = min(decimals, point.precision)
    return 0.5 * 10.0**-decimals * (1 + 1e-9)


def matches(point: Point, decoded: Value | None, shown: Value) -> bool:
    """Whether a decoded value is the one shown, within the point's precision (texts and options equal)."""
    if isinstance(shown, bool | str) or decoded is None:
        return decoded == shown
    if isinstance(decoded, bool | str):
        return False
    return math.isclose(decoded, shown, rel_tol=0, abs_tol=tolerance(point, shown))
