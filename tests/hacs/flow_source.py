"""What the integration's config and options flows can show a user, read from its source without importing it.

`read_flows(package_dir)` parses every module of the package and, for each class that derives (directly or
through classes of the package) from Home Assistant's `ConfigFlow` or `OptionsFlow`, collects:

- forms (`async_show_form`): step id, the fields of `data_schema`, the `description_placeholders` keys;
- menus (`async_show_menu`): step id and `menu_options`;
- errors: string values stored into a dict named `errors` (`errors["base"] = "x"`, `errors = {...}`, or
  `errors={...}` passed to `async_show_form`);
- abort reasons: `async_abort(reason=...)` and the helpers of `homeassistant.config_entries.ConfigFlow` that
  abort with a reason the integration must translate: `_abort_if_unique_id_configured` ("already_configured"
  or its `error=`), `_abort_if_unique_id_mismatch` ("unique_id_mismatch" or its `reason=`),
  `async_update_and_abort`/`async_update_reload_and_abort` ("reconfigure_successful", in a reauth step
  "reauth_successful", or `reason=`).
  `async_set_unique_id`'s "already_in_progress" is translated by Home Assistant itself
  (`translation_domain=homeassistant`, homeassistant/config_entries.py 2026.10) and is not listed;
- the keys of `self.context["title_placeholders"]` (used by `flow_title`);
- select/number selectors with a `translation_key` (anywhere in the package) and their literal options.

Values are string literals or names bound to string literals at module level (in the module or imported
from a sibling module, e.g. `CONF_*` from const.py). Anything else (a value computed at run time) is
recorded in `unreadable` with its place, so a check can say what it could not verify instead of passing
silently.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

# Home Assistant's flow base classes and the strings.json section their texts live in.
FLOW_BASES = {"ConfigFlow": "config", "OptionsFlow": "options", "OptionsFlowWithReload": "options"}
UPDATE_AND_ABORT = {"async_update_and_abort", "async_update_reload_and_abort"}


@dataclass(slots=True)
class Form:
    step_id: str
    fields: set[str] | None  # None: the schema could not be read
    placeholders: set[str] | None  # None: placeholders computed at run time
    where: str


@dataclass(slots=True)
class Menu:
    step_id: str
    options: list[str]
    where: str


@dataclass(slots=True)
class Abort:
    reason: str
    placeholders: set[str] | None
    where: str


@dataclass(slots=True)
class Flow:
    """Everything one flow class can show; `section` is "config" or "options"."""

    name: str
    section: str
    forms: list[Form] = field(default_factory=list)
    menus: list[Menu] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # error key -> where
    aborts: list[Abort] = field(default_factory=list)
    title_placeholders: set[str] | None = None


@dataclass(slots=True)
class Selector:
    translation_key: str
    options: list[str] | None  # None: options computed at run time
    where: str


@dataclass(slots=True)
class FlowSource:
    flows: list[Flow]
    selectors: list[Selector]
    unreadable: list[str]


class _Module:
    """One parsed module with its string constants (own and imported from sibling modules)."""

    def __init__(self, path: Path, tree: ast.Module) -> None:
        self.path = path
        self.tree = tree
        self.strings: dict[str, str] = {}
        self.assigned: dict[str, ast.expr] = {}
        self.imports: dict[str, tuple[str, str]] = {}  # local name -> (module stem, name there)
        for node in tree.body:
            targets: list[ast.expr] = []
            value: ast.expr | None = None
            if isinstance(node, ast.Assign):
                targets, value = list(node.targets), node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            elif isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (node.module, alias.name)
            for target in targets:
                if isinstance(target, ast.Name) and value is not None:
                    self.assigned[target.id] = value
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        self.strings[target.id] = value.value


class _Reader:
    def __init__(self, package_dir: Path) -> None:
        self.modules: dict[str, _Module] = {}
        for path in sorted(package_dir.glob("*.py")):
            self.modules[path.stem] = _Module(path, ast.parse(path.read_text(), str(path)))
        self.unreadable: list[str] = []

    # ------------------------------------------------------------------ values
    def where(self, module: _Module, node: ast.AST) -> str:
        return f"{module.path.name}:{getattr(node, 'lineno', '?')}"

    def string(self, module: _Module, node: ast.expr | None) -> str | None:
        """The string `node` stands for, if it is a literal or a module-level string constant."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in module.strings:
                return module.strings[node.id]
            if node.id in module.imports:
                stem, name = module.imports[node.id]
                if (other := self.modules.get(stem)) is not None and other is not module:
                    return self.string(other, ast.Name(id=name))
        return None

    def required_string(self, module: _Module, node: ast.expr | None, what: str) -> str | None:
        value = self.string(module, node)
        if value is None:
            self.unreadable.append(f"{self.where(module, node or module.tree)}: {what} is not a literal")
        return value

    def module_value(self, module: _Module, name: str) -> tuple[_Module, ast.expr] | None:
        if name in module.assigned:
            return module, module.assigned[name]
        if name in module.imports:
            stem, other_name = module.imports[name]
            if (other := self.modules.get(stem)) is not None and other is not module:
                return self.module_value(other, other_name)
        return None

    def schema_fields(
        self, module: _Module, node: ast.expr | None, local: dict[str, ast.expr]
    ) -> set[str] | None:
        """Field names of a voluptuous schema expression, or None if it cannot be read."""
        if node is None:
            return set()
        if isinstance(node, ast.Name):
            if node.id in local:
                return self.schema_fields(module, local[node.id], local)
            found = self.module_value(module, node.id)
            return None if found is None else self.schema_fields(found[0], found[1], {})
        if isinstance(node, ast.Call):
            func = node.func
            name = _name_of(func)
            if name == "add_suggested_values_to_schema" and node.args:
                return self.schema_fields(module, node.args[0], local)
            if name == "Schema" and node.args and isinstance(node.args[0], ast.Dict):
                return self.dict_fields(module, node.args[0])
            if name == "extend" and isinstance(func, ast.Attribute) and node.args:
                base = self.schema_fields(module, func.value, local)
                more = self.dict_fields(module, node.args[0]) if isinstance(node.args[0], ast.Dict) else None
                return None if base is None or more is None else base | more
        return None

    def dict_fields(self, module: _Module, node: ast.Dict) -> set[str] | None:
        fields: set[str] = set()
        for key in node.keys:
            marker = key.args[0] if isinstance(key, ast.Call) and key.args else key
            if (name := self.string(module, marker)) is None:
                return None
            fields.add(name)
        return fields

    @staticmethod
    def dict_keys(node: ast.expr | None, local: dict[str, ast.expr], extra: set[str]) -> set[str] | None:
        """Literal string keys of a dict expression (a literal, or a local name bound to one)."""
        if isinstance(node, ast.Name) and node.id in local:
            node = local[node.id]
        if not isinstance(node, ast.Dict):
            return None
        keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
        return keys | extra if len(keys) == len(node.keys) else None

    # ------------------------------------------------------------------ classes
    def flow_section(
        self, classes: dict[str, ast.ClassDef], name: str, seen: frozenset[str] = frozenset()
    ) -> str | None:
        if name in FLOW_BASES:
            return FLOW_BASES[name]
        if name not in classes or name in seen:
            return None
        for base in classes[name].bases:
            if (section := self.flow_section(classes, _name_of(base), seen | {name})) is not None:
                return section
        return None

    def read(self) -> FlowSource:
        classes = {
            node.name: node
            for module in self.modules.values()
            for node in module.tree.body
            if isinstance(node, ast.ClassDef)
        }
        flows: list[Flow] = []
        for module in self.modules.values():
            for node in module.tree.body:
                if isinstance(node, ast.ClassDef) and (section := self.flow_section(classes, node.name)):
                    flows.append(self.read_flow(module, node, section))
        return FlowSource(flows, self.read_selectors(), self.unreadable)

    def read_flow(self, module: _Module, cls: ast.ClassDef, section: str) -> Flow:
        flow = Flow(cls.name, section)
        for function in (n for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            local = _local_values(function)
            subscript_keys = _subscript_keys(function)
            reauth = function.name.startswith("async_step_reauth")
            for node in ast.walk(function):
                if isinstance(node, ast.AnnAssign) and node.value is not None:  # errors: dict[...] = {...}
                    plain = ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)
                    self.read_assignment(module, flow, plain)
                if isinstance(node, ast.Assign):
                    self.read_assignment(module, flow, node)
                if isinstance(node, ast.Call):
                    self.read_call(module, flow, node, local, subscript_keys, reauth=reauth)
        return flow

    def read_assignment(self, module: _Module, flow: Flow, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Subscript) and _is_name(target.value, "errors"):
                if (key := self.required_string(module, node.value, "an error key")) is not None:
                    flow.errors.setdefault(key, self.where(module, node))
            elif isinstance(target, ast.Name) and target.id == "errors" and isinstance(node.value, ast.Dict):
                self.read_error_dict(module, flow, node.value)
            elif (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Attribute)
                and target.value.attr == "context"
                and self.string(module, target.slice) == "title_placeholders"
            ):
                flow.title_placeholders = self.dict_keys(node.value, {}, set())

    def read_error_dict(self, module: _Module, flow: Flow, node: ast.Dict) -> None:
        for value in node.values:
            if (key := self.required_string(module, value, "an error key")) is not None:
                flow.errors.setdefault(key, self.where(module, value))

    def read_call(
        self,
        module: _Module,
        flow: Flow,
        node: ast.Call,
        local: dict[str, ast.expr],
        subscript_keys: dict[str, set[str]],
        *,
        reauth: bool,
    ) -> None:
        if not isinstance(node.func, ast.Attribute):
            return
        method = node.func.attr
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        where = self.where(module, node)

        def placeholders() -> set[str] | None:
            value = kw.get("description_placeholders")
            if value is None:
                return set()
            extra = subscript_keys.get(value.id, set()) if isinstance(value, ast.Name) else set()
            return self.dict_keys(value, local, extra)

        if method == "async_show_form":
            if (step := self.required_string(module, kw.get("step_id"), "a step_id")) is not None:
                fields = self.schema_fields(module, kw.get("data_schema"), local)
                if fields is None:
                    self.unreadable.append(f"{where}: the fields of step {step!r} are not literal")
                flow.forms.append(Form(step, fields, placeholders(), where))
            if isinstance(kw.get("errors"), ast.Dict):
                self.read_error_dict(module, flow, kw["errors"])  # type: ignore[arg-type]
        elif method == "async_show_menu":
            step = self.required_string(module, kw.get("step_id"), "a menu step_id")
            options = kw.get("menu_options")
            keys: list[ast.expr | None] | None = None
            if isinstance(options, ast.List):
                keys = list(options.elts)
            elif isinstance(options, ast.Dict):
                keys = list(options.keys)
            names = [self.required_string(module, k, "a menu option") for k in keys or []]
            if keys is None:
                self.unreadable.append(f"{where}: menu_options is not a literal list or dict")
            if step is not None:
                flow.menus.append(Menu(step, [n for n in names if n is not None], where))
        elif method == "async_abort":
            if "translation_domain" in kw:
                return  # translated by another domain (e.g. Home Assistant's own strings)
            if (reason := self.required_string(module, kw.get("reason"), "an abort reason")) is not None:
                flow.aborts.append(Abort(reason, placeholders(), where))
        elif method == "_abort_if_unique_id_configured":
            reason = self.string(module, kw.get("error")) if "error" in kw else "already_configured"
            if reason is not None:
                flow.aborts.append(Abort(reason, placeholders(), where))
        elif method == "_abort_if_unique_id_mismatch":
            reason = self.string(module, kw.get("reason")) if "reason" in kw else "unique_id_mismatch"
            if reason is not None:
                flow.aborts.append(Abort(reason, placeholders(), where))
        elif method in UPDATE_AND_ABORT:
            default = "reauth_successful" if reauth else "reconfigure_successful"  # by the flow's source
            reason = self.string(module, kw.get("reason")) if "reason" in kw else default
            if reason is not None:
                flow.aborts.append(Abort(reason, set(), where))

    def read_selectors(self) -> list[Selector]:
        selectors: list[Selector] = []
        for module in self.modules.values():
            for node in ast.walk(module.tree):
                if not (isinstance(node, ast.Call) and _call_name(node).endswith("SelectorConfig")):
                    continue
                kw = {k.arg: k.value for k in node.keywords if k.arg}
                if "translation_key" not in kw:
                    continue
                where = self.where(module, node)
                key = self.required_string(module, kw["translation_key"], "a selector translation_key")
                options_node = kw.get("options")
                options: list[str] | None = None
                if isinstance(options_node, ast.List):
                    values = [self.string(module, e) for e in options_node.elts]
                    options = [v for v in values if v is not None] if None not in values else None
                if key is not None:
                    selectors.append(Selector(key, options, where))
        return selectors


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _name_of(node: ast.expr) -> str:
    """`b` for `a.b`, `a` for `a`, "" for anything else."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _call_name(node: ast.Call) -> str:
    return _name_of(node.func)


def _local_values(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, ast.expr]:
    """Names bound once in the function to a dict literal or a schema (what `description_placeholders=` or
    `data_schema=` may refer to)."""
    values: dict[str, ast.expr] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = node.value
    return values


def _subscript_keys(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, set[str]]:
    """Literal keys stored into local dicts: `placeholders["error"] = ...` -> {"placeholders": {"error"}}."""
    keys: dict[str, set[str]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and isinstance(target.slice, ast.Constant)
                    and isinstance(target.slice.value, str)
                ):
                    keys.setdefault(target.value.id, set()).add(target.slice.value)
    return keys


def read_flows(package_dir: Path) -> FlowSource:
    """The flows of the integration in `package_dir` (shapes above); never imports the package."""
    return _Reader(package_dir).read()
