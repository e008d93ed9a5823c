"""What HACS (and Home Assistant, for a custom integration) checks on an integration repository, as functions.

Each check takes the repository's root and returns the problems it finds, one line each, empty when the
repository passes. The docstrings cite the rule each check is written from:

- HACS documentation (hacs.xyz, source github.com/hacs/documentation): `docs/publish/start` (general
  requirements, hacs.json), `docs/publish/integration` (integration repositories), `docs/publish/include`
  (the checks run on a repository: brands, manifest, HACS manifest, information/repository) and
  `docs/publish/action` (the HACS action's checks). HACS requires Home Assistant's Hassfest to pass too.
- Home Assistant developer documentation (developers.home-assistant.io): "Integration manifest",
  "Brand images", "Backend localization", "Custom integration localization".
- home-assistant/brands README "Image specification" and its CI (.github/workflows/validate/validate.sh).

Not checkable from the files, so not here: the GitHub repository's description, topics, issues enabled,
not archived, and a published release (HACS "Check repository", "Check archived", "Check releases").
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from awesomeversion import AwesomeVersion, AwesomeVersionException, AwesomeVersionStrategy
from homeassistant.components.brands.const import ALLOWED_IMAGES
from PIL import Image

from .flow_source import read_flows

type Check = Callable[[Path], list[str]]

# hacs.xyz docs/publish/start, "hacs.json": the supported keys and their types.
HACS_JSON_KEYS: dict[str, type] = {
    "name": str,
    "content_in_root": bool,
    "zip_release": bool,
    "filename": str,
    "hide_default_branch": bool,
    "country": str,  # or a list of codes (the page's first example)
    "homeassistant": str,
    "hacs": str,
    "persistent_directory": str,
    # Gone from the table since HACS 2.0 (which always shows the README; hacs/documentation 4002a61) but
    # still accepted by the HACS action's schema (custom_components/hacs/utils/validate.py).
    "render_readme": bool,
}
# developers.home-assistant.io, "Brand images": custom integrations ship brand/ since 2026.3.
BRAND_IMAGES_SINCE = AwesomeVersion("2026.3.0")
# Home Assistant's loader (homeassistant/loader.py) and Hassfest accept a custom integration's version only
# if AwesomeVersion recognises it with one of these strategies; otherwise the integration is not loaded.
VERSION_STRATEGIES = [
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]
# developers.home-assistant.io, "Integration manifest": "IoT class" and "Integration type".
IOT_CLASSES = {"assumed_state", "cloud_polling", "cloud_push", "local_polling", "local_push", "calculated"}
INTEGRATION_TYPES = {"device", "entity", "hardware", "helper", "hub", "service", "system", "virtual"}
DOMAIN_PATTERN = re.compile(r"^[a-z0-9_]+$")
CODEOWNER_PATTERN = re.compile(r"^@[A-Za-z0-9-]+(/[A-Za-z0-9_.-]+)?$")  # @user or @org/team
COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2


def _json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    except (ValueError, UnicodeDecodeError) as err:
        return None, f"{path.name} is not valid JSON: {err}"


def integration_dirs(root: Path) -> list[Path]:
    """The directories under custom_components/ (Python's byte-code cache is not part of a repository)."""
    base = root / "custom_components"
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and p.name != "__pycache__")


def _integration(root: Path) -> Path:
    dirs = integration_dirs(root)
    return dirs[0] if dirs else root / "custom_components" / "<none>"


def _manifest(root: Path) -> dict[str, Any]:
    data, _ = _json(_integration(root) / "manifest.json")
    return data if isinstance(data, dict) else {}


# --------------------------------------------------------------------------------------------- hacs.json
def check_hacs_json(root: Path) -> list[str]:
    """hacs.json is valid for HACS.

    hacs.xyz docs/publish/start "hacs.json": the file is in the repository's root; `name` (string) is
    required; the other keys are optional and of the types in the table; `zip_release` needs `filename`;
    `country` is an ISO 3166-1 alpha-2 code (or a list of them); `homeassistant` is the minimum Home
    Assistant version, compared with AwesomeVersion. docs/publish/include "Check HACS manifest". The HACS
    action's hacsjson check rejects unknown keys (its schema has no extra keys).
    Plus one project rule: the minimum version is at least 2026.3.0, where custom integrations' own brand
    images start to work (developers.home-assistant.io, "Brand images"), and not above the Home Assistant
    the project is tested with.
    """
    data, error = _json(root / "hacs.json")
    if error:
        return [error]
    if not isinstance(data, dict):
        return ["hacs.json is not a JSON object"]
    problems = [f"hacs.json: unknown key {key!r}" for key in data if key not in HACS_JSON_KEYS]
    for key, value in data.items():
        expected = HACS_JSON_KEYS.get(key)
        if expected is None or (key == "country" and isinstance(value, list)):
            continue
        if type(value) is not expected:
            problems.append(f"hacs.json: {key!r} must be a {expected.__name__}, not {value!r}")
    if not (isinstance(data.get("name"), str) and data["name"].strip()):
        problems.append("hacs.json: 'name' (the name shown in HACS) is required")
    if data.get("zip_release") and not data.get("filename"):
        problems.append("hacs.json: 'zip_release' needs 'filename'")
    countries = data.get("country", [])
    for code in countries if isinstance(countries, list) else [countries]:
        if not (isinstance(code, str) and COUNTRY_PATTERN.match(code)):
            problems.append(f"hacs.json: country {code!r} is not an ISO 3166-1 alpha-2 code")
    if isinstance(directory := data.get("persistent_directory"), str) and (
        directory.startswith("/") or ".." in Path(directory).parts
    ):
        problems.append(f"hacs.json: persistent_directory {directory!r} must be inside the integration")
    if isinstance(minimum := data.get("homeassistant"), str):
        tested = AwesomeVersion(importlib.metadata.version("homeassistant"))
        try:
            version = AwesomeVersion(minimum, ensure_strategy=VERSION_STRATEGIES)
        except AwesomeVersionException:
            problems.append(f"hacs.json: homeassistant {minimum!r} is not a version")
        else:
            if version < BRAND_IMAGES_SINCE:
                problems.append(
                    f"hacs.json: homeassistant {minimum} is older than {BRAND_IMAGES_SINCE}, the first "
                    "release that shows a custom integration's own brand images"
                )
            if version > tested:
                problems.append(f"hacs.json: homeassistant {minimum} is newer than the tested {tested}")
    else:
        problems.append("hacs.json: 'homeassistant' (the minimum Home Assistant version) is not set")
    if data.get("content_in_root") and not (root / "manifest.json").is_file():
        problems.append("hacs.json: content_in_root is true but manifest.json is not in the root")
    return problems


def check_one_integration(root: Path) -> list[str]:
    """Exactly one integration, in custom_components/<domain>/.

    hacs.xyz docs/publish/integration "Repository structure": "There must only be one integration per
    repository, i.e. there can only be one subdirectory to ROOT_OF_THE_REPO/custom_components/" and all
    its files are inside ROOT_OF_THE_REPO/custom_components/INTEGRATION_NAME/ (unless content_in_root).
    """
    dirs = integration_dirs(root)
    if len(dirs) != 1:
        names = ", ".join(p.name for p in dirs) or "none"
        return [f"custom_components/ must hold exactly one integration directory, found: {names}"]
    if not (dirs[0] / "manifest.json").is_file():
        return [f"custom_components/{dirs[0].name}/manifest.json is missing"]
    loose = sorted(p.name for p in (root / "custom_components").iterdir() if p.is_file())
    return [f"custom_components/ has files outside the integration: {', '.join(loose)}"] if loose else []


# --------------------------------------------------------------------------------------------- manifest
def check_manifest(root: Path) -> list[str]:
    """manifest.json has what HACS and Home Assistant require of a custom integration.

    hacs.xyz docs/publish/integration "manifest.json": at least domain, documentation, issue_tracker,
    codeowners, name, version (docs/publish/include "Check manifest"; the HACS action validates
    documentation and issue_tracker as URLs and version with AwesomeVersion).
    developers.home-assistant.io "Integration manifest": the domain is characters and underscores and
    matches the directory; version is required for custom integrations and must be recognised by
    AwesomeVersion (HA's loader refuses to load the integration otherwise); integration_type and iot_class
    take the documented values; codeowners are GitHub user or team names; config_flow: true needs
    config_flow.py. Hassfest (required by docs/publish/include) also wants an https documentation URL, an
    iot_class, and the keys in the order domain, name, then alphabetical.
    """
    integration = _integration(root)
    data, error = _json(integration / "manifest.json")
    if error:
        return [error]
    if not isinstance(data, dict):
        return ["manifest.json is not a JSON object"]
    problems = [
        f"manifest.json: {key!r} is required"
        for key in ("domain", "name", "version", "documentation", "issue_tracker", "codeowners", "iot_class")
        if key not in data
    ]
    domain = data.get("domain")
    if not (isinstance(domain, str) and DOMAIN_PATTERN.match(domain)):
        problems.append(f"manifest.json: domain {domain!r} must be lower-case letters, digits and _")
    elif domain != integration.name:
        problems.append(f"manifest.json: domain {domain!r} does not match the directory {integration.name!r}")
    if "name" in data and not (isinstance(data["name"], str) and data["name"].strip()):
        problems.append("manifest.json: name must be a non-empty string")
    if "version" in data:
        try:
            AwesomeVersion(str(data["version"]), ensure_strategy=VERSION_STRATEGIES)
        except AwesomeVersionException:
            problems.append(f"manifest.json: version {data['version']!r} is not a version (AwesomeVersion)")
    for key in ("documentation", "issue_tracker"):
        if key in data:
            url = urlparse(str(data[key]))
            if url.scheme != "https" or not url.netloc:
                problems.append(f"manifest.json: {key} {data[key]!r} must be an https URL")
    owners = data.get("codeowners")
    if "codeowners" in data and not (
        isinstance(owners, list)
        and owners
        and all(isinstance(o, str) and CODEOWNER_PATTERN.match(o) for o in owners)
    ):
        problems.append(f"manifest.json: codeowners {owners!r} must list GitHub @user or @org/team names")
    if "iot_class" in data and data["iot_class"] not in IOT_CLASSES:
        problems.append(f"manifest.json: iot_class {data['iot_class']!r} is not one of {sorted(IOT_CLASSES)}")
    if "integration_type" in data and data["integration_type"] not in INTEGRATION_TYPES:
        problems.append(f"manifest.json: integration_type {data['integration_type']!r} is not a known type")
    if data.get("config_flow") is True and not (integration / "config_flow.py").is_file():
        problems.append("manifest.json: config_flow is true but config_flow.py is missing")
    keys, first = list(data), ("domain", "name")
    expected = [k for k in first if k in keys] + sorted(k for k in keys if k not in first)
    if keys != expected:
        problems.append(f"manifest.json: keys must be ordered domain, name, then alphabetical: {expected}")
    return problems


# --------------------------------------------------------------------------------------------- brand
def _is_trimmed(image: Image.Image, *, square: bool) -> bool:
    """No empty border: the visible pixels reach all four edges, or, for a square icon of a non-square
    mark, both edges along the mark's longer side."""
    box = image.getchannel("A").getbbox()
    if box is None:
        return False
    left, top, right, bottom = box
    full_width = left == 0 and right == image.width
    full_height = top == 0 and bottom == image.height
    return (full_width or full_height) if square else (full_width and full_height)


def check_brand_images(root: Path) -> list[str]:
    """The integration's brand images, as HACS and Home Assistant want them.

    hacs.xyz docs/publish/include "Check brands": the integration has brand/icon.png (else HACS falls back
    to the home-assistant/brands repository, which no longer takes custom integrations).
    developers.home-assistant.io "Brand images": Home Assistant >= 2026.3 serves custom_components/<domain>/
    brand/ at /api/brands/integration/<domain>/<image>; only the eight names in
    homeassistant.components.brands.const.ALLOWED_IMAGES are served.
    home-assistant/brands README "Image specification": PNG; transparency preferred; trimmed (no empty
    space on the edges, transparent spacing included); icons 1:1, 256x256 and 512x512 for hDPI; logos'
    shortest side 128..256 and 256..512 for hDPI; `dark_` images are the dark-background versions.
    Its CI (validate.sh) also refuses an hDPI image without its normal one and images identical to the
    one they would replace (logo == icon, dark == light, @2x == normal).
    Project rules on top: RGBA (the transparent background the README prefers), and an hDPI image exactly
    twice its normal one.
    """
    brand = _integration(root) / "brand"
    if not (brand / "icon.png").is_file():
        return [f"{brand.relative_to(root)}/icon.png is missing (HACS brands check)"]
    problems: list[str] = []
    images: dict[str, Image.Image] = {}
    for path in sorted(brand.iterdir()):
        if path.name not in ALLOWED_IMAGES:
            problems.append(f"brand/{path.name}: Home Assistant serves only {sorted(ALLOWED_IMAGES)}")
            continue
        try:
            with Image.open(path) as opened:
                opened.load()
                if opened.format != "PNG":
                    problems.append(f"brand/{path.name}: is {opened.format}, not PNG")
                images[path.name] = opened.copy()
        except OSError as err:
            problems.append(f"brand/{path.name}: not a readable image ({err})")
    for name, image in images.items():
        hdpi = "@2x" in name
        if image.mode != "RGBA":
            problems.append(f"brand/{name}: mode {image.mode}, want RGBA with a transparent background")
            continue
        if image.getchannel("A").getextrema()[0] == 255:
            problems.append(f"brand/{name}: has no transparent background")
        if "icon" in name:
            want = 512 if hdpi else 256
            if image.size != (want, want):
                problems.append(f"brand/{name}: {image.width}x{image.height}, an icon must be {want}x{want}")
        else:
            low, high = (256, 512) if hdpi else (128, 256)
            if not low <= min(image.size) <= high:
                problems.append(f"brand/{name}: shortest side {min(image.size)} is outside {low}..{high}")
        if not _is_trimmed(image, square="icon" in name):
            problems.append(f"brand/{name}: not trimmed (empty space on its edges)")
        if hdpi:
            normal = name.replace("@2x", "")
            if normal not in images:
                problems.append(f"brand/{name}: the hDPI image needs brand/{normal}")
            elif image.size != (images[normal].width * 2, images[normal].height * 2):
                problems.append(f"brand/{name}: {image.size} is not twice {normal} {images[normal].size}")

    def identical(first: str, second: str) -> bool:
        both = {first, second} <= images.keys()
        return both and (brand / first).read_bytes() == (brand / second).read_bytes()

    same = [("logo", "icon"), ("dark_logo", "dark_icon"), ("dark_icon", "icon"), ("dark_logo", "logo")]
    problems += [
        f"brand/{a}{suffix}.png is identical to brand/{b}{suffix}.png; leave it out"
        for suffix in ("", "@2x")
        for a, b in same
        if identical(f"{a}{suffix}.png", f"{b}{suffix}.png")
    ]
    problems += [
        f"brand/{name}@2x.png is identical to brand/{name}.png"
        for name in ("icon", "logo", "dark_icon", "dark_logo")
        if identical(f"{name}.png", f"{name}@2x.png")
    ]
    return problems


# --------------------------------------------------------------------------------------------- translations
def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _leaves(data: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(data, dict):
        return {k: v for key, value in data.items() for k, v in _leaves(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): data}


def check_english_is_strings(root: Path) -> list[str]:
    """translations/en.json is strings.json, with no references left to resolve.

    developers.home-assistant.io "Custom integration localization": Home Assistant reads a custom
    integration's texts from translations/<language>.json only; strings.json and `[%key:...%]` references
    are build-time features of Home Assistant Core that custom integrations do not get ("your config flow
    will ... show raw keys"). So what strings.json produces for a custom integration is itself: en.json must
    equal it, and neither may contain a reference.
    """
    integration = _integration(root)
    strings, error = _json(integration / "strings.json")
    english, english_error = _json(integration / "translations" / "en.json")
    if error or english_error:
        return [e for e in (error, english_error) if e]
    problems = [
        f"{file}: {key} is a reference ({value}), which custom integrations cannot resolve"
        for file, data in (("strings.json", strings), ("translations/en.json", english))
        for key, value in _leaves(data).items()
        if isinstance(value, str) and "[%key:" in value
    ]
    if english != strings:
        flat_strings, flat_english = _leaves(strings), _leaves(english)
        differing = sorted(
            k for k in flat_strings.keys() | flat_english.keys() if flat_strings.get(k) != flat_english.get(k)
        )
        problems.append(f"translations/en.json differs from strings.json at: {', '.join(differing[:10])}")
    return problems


def check_flow_translations(root: Path) -> list[str]:
    """Every text the config and options flows can show has an English translation.

    developers.home-assistant.io "Backend localization", "Config / Options / Subentry flows": the flows'
    texts live under `config` and `options`: `step.<step_id>` (title, description, `data.<field>` labels,
    `menu_options.<option>`), `error.<key>`, `abort.<reason>`; "Selectors": a select selector with a
    `translation_key` takes its labels from `selector.<key>.options.<option>`. A missing one shows the raw
    key in the UI. Placeholders (`{name}`) in a step or abort text must be among the
    `description_placeholders` the code passes (and `flow_title`'s among `title_placeholders`), or the
    frontend shows them unfilled. Hassfest (translations.py): `data_description` keys must be `data` keys.
    Read from translations/en.json, which is what Home Assistant loads for a custom integration.
    """
    integration = _integration(root)
    english, error = _json(integration / "translations" / "en.json")
    if error:
        return [error]
    source = read_flows(integration)
    problems = [f"cannot verify: {item}" for item in source.unreadable]
    if not source.flows:
        problems.append("no config or options flow class found")

    def texts(section: str, *path: str) -> Any:
        node: Any = english.get(section, {})
        for part in path:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node

    def unfilled(text: Any, given: set[str] | None, what: str) -> None:
        if isinstance(text, str) and given is not None and (missing := _placeholders(text) - given):
            problems.append(f"{what} uses {sorted(missing)} but the code passes only {sorted(given)}")

    for flow in source.flows:
        section = flow.section
        for form in flow.forms:
            step = texts(section, "step", form.step_id)
            where = f"{section}.step.{form.step_id} ({form.where})"
            if not (isinstance(step, dict) and (step.get("title") or step.get("description"))):
                problems.append(f"{where}: no title or description")
                continue
            for field_name in sorted(form.fields or ()):
                if field_name not in step.get("data", {}):
                    problems.append(f"{where}: no label data.{field_name}")
            for key in ("title", "description"):
                unfilled(step.get(key), form.placeholders, f"{section}.step.{form.step_id}.{key}")
        for menu in flow.menus:
            labels = texts(section, "step", menu.step_id, "menu_options")
            problems += [
                f"{section}.step.{menu.step_id}.menu_options.{option} is missing ({menu.where})"
                for option in menu.options
                if not (isinstance(labels, dict) and option in labels)
            ]
        for key, where in sorted(flow.errors.items()):
            if key not in texts(section, "error"):
                problems.append(f"{section}.error.{key} is missing ({where})")
        for abort in flow.aborts:
            text = texts(section, "abort", abort.reason)
            if not isinstance(text, str):
                problems.append(f"{section}.abort.{abort.reason} is missing ({abort.where})")
            unfilled(text, abort.placeholders, f"{section}.abort.{abort.reason}")
        if flow.title_placeholders is not None:
            unfilled(texts(section, "flow_title"), flow.title_placeholders, f"{section}.flow_title")
    for section in ("config", "options"):
        for step_id, step in (texts(section, "step") or {}).items():
            if extra := set(step.get("data_description", {})) - set(step.get("data", {})):
                problems.append(f"{section}.step.{step_id}.data_description without data: {sorted(extra)}")
    for selector in source.selectors:
        labels = english.get("selector", {}).get(selector.translation_key, {}).get("options")
        if not isinstance(labels, dict):
            problems.append(f"selector.{selector.translation_key}.options is missing ({selector.where})")
            continue
        problems += [
            f"selector.{selector.translation_key}.options.{option} is missing ({selector.where})"
            for option in selector.options or ()
            if option not in labels
        ]
    return problems


# --------------------------------------------------------------------------------------------- repository
def check_information(root: Path) -> list[str]:
    """The repository has a README.

    hacs.xyz docs/publish/start "README": "Your repository needs to have a readme with information about
    how to use it"; the HACS action's `information` check looks for README(.md) or info(.md) in the root.
    With `render_readme` (hacs.json) HACS shows README.md itself.
    """
    names = {p.name.lower() for p in root.iterdir() if p.is_file()}
    found = names & {"readme", "readme.md", "info", "info.md"}
    return [] if found else ["no README.md in the repository root"]


def check_license(root: Path) -> list[str]:
    """The repository has a licence file.

    The HACS action's `license` check (hacs/integration, custom_components/hacs/validate/license.py, added
    July 2026; not yet on hacs.xyz) fails a repository without a licence GitHub identifies as OSI-approved.
    From the files we can only see whether there is one.
    """
    names = {p.name.lower() for p in root.iterdir() if p.is_file()}
    found = names & {"license", "license.md", "license.txt", "licence", "copying", "copying.md"}
    return [] if found else ["no LICENSE file in the repository root"]


CHECKS: dict[str, Check] = {
    "hacs_json": check_hacs_json,
    "one_integration": check_one_integration,
    "manifest": check_manifest,
    "brand_images": check_brand_images,
    "english_is_strings": check_english_is_strings,
    "flow_translations": check_flow_translations,
    "information": check_information,
    "license": check_license,
}
