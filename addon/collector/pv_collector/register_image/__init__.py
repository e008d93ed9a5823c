"""Register images: what one Modbus device holds, as a small versioned JSON file (docs/profiles.md).

A register image records, for one device, the registers as read (holding and input tables, as runs of
consecutive registers), the ranges the device refused (with the Modbus exception code, or no answer at all),
the ranges where it reported its "not implemented" value, who it is (profile, vendor, model, firmware) and
where the image comes from (a real device, a vendor document's worked example, the project's simulator),
with a citation. `pv-collector record` writes images, `pv-collector simulate --image` serves them, and the
test fixtures in `tests/fixtures/devices/` are images.

This package owns the format: `parse` reads a file (`load_image` / `parse_image` validate it and raise
`ImageError` with one line naming the file and what is wrong); `image` holds the image in memory and
writes its canonical, diff-friendly text (`RegisterImage.to_json`: ten registers per line, so a changed
register changes one line); `provenance` says which device it is of and where it comes from.

    {
      "format": "pv-monitor/register-image", "version": 1,
      "device": {"profile": "sdm630", "vendor": "Eastron", "model": "SDM630", "unit_id": 1},
      "source": {"kind": "device", "citation": "https://...", "captured": "2020-01-01T10:17:59"},
      "shown": {"by": "the meter's display", "values": {"voltage_l1": 228.7}},
      "holding": [],
      "input": [{"start": 0, "values": [17252, 47809, ...]}],
      "refused": [{"function": "input", "start": 100, "count": 2, "exception": 2}],
      "not_implemented": [{"function": "input", "start": 6, "count": 2}]
    }
"""

from .image import FORMAT, ILLEGAL_DATA_ADDRESS, REGISTERS, VERSION, Refusal, RegisterImage, Span, merge_spans
from .parse import load_image, parse_image
from .provenance import Identity, Shown, Source, SourceKind

__all__ = [
    "FORMAT",
    "ILLEGAL_DATA_ADDRESS",
    "REGISTERS",
    "VERSION",
    "Identity",
    "Refusal",
    "RegisterImage",
    "Shown",
    "Source",
    "SourceKind",
    "Span",
    "load_image",
    "merge_spans",
    "parse_image",
]
