"""The repository passes what HACS validates for an integration (rules and sources: tests/hacs/rules.py).

Plain pytest, no Home Assistant harness: `pytest -p no:homeassistant tests/hacs`.
Every check runs on the repository itself, and on a copy broken in one way, where it must fail: a check
that cannot fail would prove nothing.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from scripts import brand_images

from .rules import CHECKS

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "pv_monitor"

type Breakage = Callable[[Path], None]


@functools.cache
def repository_problems(name: str) -> list[str]:
    """What check `name` finds in the repository itself (checks only read it: once per run)."""
    return CHECKS[name](ROOT)


@pytest.mark.parametrize("name", list(CHECKS))
def test_repository_passes(name: str) -> None:
    assert repository_problems(name) == []


# ------------------------------------------------------------------------------------- broken copies
def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for path in ROOT.iterdir():
        if path.is_file() and path.suffix in {".json", ".md", ""} and not path.name.startswith("."):
            shutil.copy2(path, root / path.name)
    shutil.copytree(
        ROOT / "custom_components", root / "custom_components", ignore=shutil.ignore_patterns("__pycache__")
    )
    return root


def _integration(root: Path) -> Path:
    return root / "custom_components" / DOMAIN


def _edit_json(relative: str, change: Callable[[Any], None]) -> Breakage:
    def breakage(root: Path) -> None:
        path = root / relative.replace("<integration>", f"custom_components/{DOMAIN}")
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return breakage


def _edit_english(change: Callable[[Any], None]) -> Breakage:
    """Change en.json and strings.json alike (so only the check under test sees a difference)."""

    def breakage(root: Path) -> None:
        for name in ("strings.json", "translations/en.json"):
            _edit_json(f"<integration>/{name}", change)(root)

    return breakage


def _brand(change: Breakage) -> Breakage:
    return lambda root: change(_integration(root) / "brand")


def _append_to_config_flow(code: str) -> Breakage:
    def breakage(root: Path) -> None:
        path = _integration(root) / "config_flow.py"
        path.write_text(path.read_text() + "\n\n" + code)

    return breakage


def _set(*path_and_value: Any) -> Callable[[Any], None]:
    *path, value = path_and_value

    def change(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return change


def _delete(*path: str) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        del data[path[-1]]

    return change


def _unsorted(manifest: dict[str, Any]) -> None:
    items = list(manifest.items())
    manifest.clear()
    manifest.update(reversed(items))


def _resize(name: str, size: tuple[int, int]) -> Callable[[Path], None]:
    def change(brand: Path) -> None:
        with Image.open(brand / name) as image:
            image.resize(size).save(brand / name)

    return change


def _pad(name: str) -> Callable[[Path], None]:
    """The same size, but the artwork shrunk inside a transparent border."""

    def change(brand: Path) -> None:
        with Image.open(brand / name) as image:
            padded = Image.new("RGBA", image.size, (0, 0, 0, 0))
            padded.alpha_composite(image.resize((image.width - 40, image.height - 40)), (20, 20))
            padded.save(brand / name)

    return change


def _opaque(name: str) -> Callable[[Path], None]:
    def change(brand: Path) -> None:
        with Image.open(brand / name) as image:
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A"))
            flat.save(brand / name)

    return change


def _jpeg_named_png(name: str) -> Callable[[Path], None]:
    def change(brand: Path) -> None:
        with Image.open(brand / name) as image:
            image.convert("RGB").save(brand / name, format="JPEG")

    return change


def _remove(name: str) -> Breakage:
    return lambda directory: (directory / name).unlink()


def _copy_file(source: str, target: str) -> Breakage:
    def change(directory: Path) -> None:
        shutil.copy(directory / source, directory / target)

    return change


def _remove_licence(root: Path) -> None:
    for path in root.iterdir():
        if path.name.lower().startswith(("license", "licence", "copying")):
            path.unlink()


def _two_integrations(root: Path) -> None:
    shutil.copytree(_integration(root), root / "custom_components" / "pv_monitor_two")


BREAKAGES: list[tuple[str, str, Breakage, str]] = [
    # (check, what is broken, how, a phrase the problem must contain)
    ("hacs_json", "unknown key", _edit_json("hacs.json", _set("iot_class", "local_push")), "unknown key"),
    ("hacs_json", "no name", _edit_json("hacs.json", _delete("name")), "'name'"),
    ("hacs_json", "wrong type", _edit_json("hacs.json", _set("content_in_root", "no")), "must be a bool"),
    ("hacs_json", "zip without filename", _edit_json("hacs.json", _set("zip_release", True)), "filename"),
    ("hacs_json", "bad country", _edit_json("hacs.json", _set("country", "Germany")), "ISO 3166"),
    (
        "hacs_json",
        "too old for brand images",
        _edit_json("hacs.json", _set("homeassistant", "2025.12.0")),
        "older than 2026.3.0",
    ),
    ("hacs_json", "no minimum version", _edit_json("hacs.json", _delete("homeassistant")), "not set"),
    ("hacs_json", "not a version", _edit_json("hacs.json", _set("homeassistant", "soon")), "not a version"),
    ("hacs_json", "missing", _remove("hacs.json"), "missing"),
    ("one_integration", "two integrations", _two_integrations, "exactly one"),
    (
        "one_integration",
        "loose file",
        _copy_file("hacs.json", "custom_components/hacs.json"),
        "outside the integration",
    ),
    (
        "manifest",
        "no issue_tracker",
        _edit_json("<integration>/manifest.json", _delete("issue_tracker")),
        "'issue_tracker' is required",
    ),
    (
        "manifest",
        "no iot_class",
        _edit_json("<integration>/manifest.json", _delete("iot_class")),
        "'iot_class' is required",
    ),
    (
        "manifest",
        "bad version",
        _edit_json("<integration>/manifest.json", _set("version", "latest")),
        "not a version",
    ),
    (
        "manifest",
        "domain not the directory",
        _edit_json("<integration>/manifest.json", _set("domain", "pv")),
        "does not match the directory",
    ),
    (
        "manifest",
        "bad iot_class",
        _edit_json("<integration>/manifest.json", _set("iot_class", "local_pull")),
        "iot_class",
    ),
    (
        "manifest",
        "bad codeowner",
        _edit_json("<integration>/manifest.json", _set("codeowners", ["pv"])),
        "codeowners",
    ),
    (
        "manifest",
        "http documentation",
        _edit_json("<integration>/manifest.json", _set("documentation", "http://example.org/pv")),
        "https URL",
    ),
    ("manifest", "keys out of order", _edit_json("<integration>/manifest.json", _unsorted), "ordered"),
    ("brand_images", "no icon", _brand(_remove("icon.png")), "icon.png is missing"),
    ("brand_images", "icon not 256", _brand(_resize("icon.png", (200, 200))), "must be 256x256"),
    ("brand_images", "logo too small", _brand(_resize("logo.png", (250, 100))), "outside 128..256"),
    ("brand_images", "@2x logo not twice", _brand(_resize("logo@2x.png", (1000, 512))), "not twice"),
    ("brand_images", "opaque icon", _brand(_opaque("icon.png")), "mode RGB"),
    ("brand_images", "untrimmed logo", _brand(_pad("logo.png")), "not trimmed"),
    ("brand_images", "untrimmed icon", _brand(_pad("icon@2x.png")), "not trimmed"),
    ("brand_images", "JPEG named .png", _brand(_jpeg_named_png("dark_icon.png")), "not PNG"),
    ("brand_images", "dark same as light", _brand(_copy_file("icon.png", "dark_icon.png")), "identical"),
    ("brand_images", "hDPI without normal", _brand(_remove("logo.png")), "needs brand/logo.png"),
    ("brand_images", "unknown file", _brand(_copy_file("icon.png", "banner.png")), "serves only"),
    (
        "english_is_strings",
        "en.json edited by hand",
        _edit_json(
            "<integration>/translations/en.json", _set("config", "abort", "already_configured", "Old")
        ),
        "differs from strings.json at: config.abort.already_configured",
    ),
    (
        "english_is_strings",
        "a core-only reference",
        _edit_english(
            _set(
                "config",
                "abort",
                "already_configured",
                "[%key:common::config_flow::abort::already_configured_device%]",
            )
        ),
        "reference",
    ),
    (
        "flow_translations",
        "error without text",
        _edit_english(_delete("config", "error", "no_collectors")),
        "config.error.no_collectors is missing",
    ),
    (
        "flow_translations",
        "abort without text",
        _edit_english(_delete("options", "abort", "no_inverters")),
        "options.abort.no_inverters is missing",
    ),
    (
        "flow_translations",
        "implied abort without text",
        _edit_english(_delete("config", "abort", "reconfigure_successful")),
        "config.abort.reconfigure_successful",
    ),
    (
        "flow_translations",
        "step without text",
        _edit_english(_delete("config", "step", "pick")),
        "config.step.pick",
    ),
    (
        "flow_translations",
        "field without label",
        _edit_english(_delete("options", "step", "thresholds", "data", "command_qos")),
        "no label data.command_qos",
    ),
    (
        "flow_translations",
        "menu option without label",
        _edit_english(_delete("options", "step", "init", "menu_options", "dashboard")),
        "menu_options.dashboard",
    ),
    (
        "flow_translations",
        "placeholder the code does not pass",
        _edit_english(_set("options", "abort", "dashboard_created", "Ready at {path}")),
        "uses ['path']",
    ),
    (
        "flow_translations",
        "flow title placeholder the code does not pass",
        _edit_english(_set("config", "flow_title", "{host}")),
        "config.flow_title uses ['host']",
    ),
    (
        "flow_translations",
        "description for a field that is not there",
        _edit_english(_set("config", "step", "user", "data_description", "port", "The port.")),
        "data_description without data",
    ),
    (
        "flow_translations",
        "selector option without label",
        _edit_english(_delete("selector", "command_qos", "options", "2")),
        "selector.command_qos.options.2",
    ),
    (
        "flow_translations",
        "new error in the code",
        _append_to_config_flow(
            "class BrokenFlow(ConfigFlow, domain='broken'):\n"
            "    async def async_step_user(self, user_input=None):\n"
            "        errors = {'base': 'broker_unreachable'}\n"
            "        return self.async_show_form(step_id='user', errors=errors)\n"
        ),
        "config.error.broker_unreachable is missing",
    ),
    (
        "flow_translations",
        "new options step in the code",
        _append_to_config_flow(
            "class BrokenOptions(OptionsFlow):\n"
            "    async def async_step_mqtt_retain(self, user_input=None):\n"
            "        return self.async_show_form(step_id='retain')\n"
        ),
        "options.step.retain",
    ),
    (
        "flow_translations",
        "error computed at run time",
        _append_to_config_flow(
            "class OpaqueFlow(ConfigFlow, domain='opaque'):\n"
            "    async def async_step_user(self, user_input=None):\n"
            "        errors = {}\n"
            "        errors['base'] = self.reason()\n"
            "        return self.async_show_form(step_id='user', errors=errors)\n"
        ),
        "cannot verify",
    ),
    ("information", "no README", _remove("README.md"), "README"),
    ("license", "no licence file", _remove_licence, "LICENSE"),
]


def test_every_check_has_a_breakage() -> None:
    assert {check for check, *_ in BREAKAGES} == set(CHECKS)


@pytest.mark.parametrize(
    ("check", "breakage", "expected"),
    [
        pytest.param(check, breakage, expected, id=f"{check}: {what}")
        for check, what, breakage, expected in BREAKAGES
    ],
)
def test_check_fails_on_a_broken_copy(tmp_path: Path, check: str, breakage: Breakage, expected: str) -> None:
    root = _copy(tmp_path)
    if repository_problems(check) == []:  # the copy passes before it is broken
        assert CHECKS[check](root) == []
    breakage(root)
    problems = CHECKS[check](root)
    assert any(expected in problem for problem in problems), problems


# ------------------------------------------------------------------------------------- brand images
def test_images_are_what_the_script_draws() -> None:
    """The add-on's and the integration's images come from scripts/brand_images.py and nowhere else."""
    problems = {
        str(path.relative_to(ROOT)): problem
        for path, render in brand_images.renderers().items()
        if (problem := brand_images.differs(path, render())) is not None
    }
    assert problems == {}
    shipped = {p.name for p in (ROOT / "custom_components" / DOMAIN / "brand").iterdir()}
    assert shipped == {p.name for p in brand_images.renderers() if p.parent == brand_images.BRAND_DIR}


def test_a_changed_image_is_not_what_the_script_draws(tmp_path: Path) -> None:
    image = brand_images.renderers()[brand_images.BRAND_DIR / "icon.png"]()
    path = tmp_path / "icon.png"
    image.save(path)
    assert brand_images.differs(path, image) is None
    image.putpixel((128, 200), (255, 0, 255, 255))
    assert (brand_images.differs(path, image) or "").startswith("pixels differ by up to")
