"""Released event schemas, and the check that a change to a contract is compatible with them.

Each `<version>.json` here is a snapshot of every event type's JSON Schema (pydantic
serialization mode) at a release. A change to an event type that exists in the latest release
must be compatible with it; otherwise the change needs a new type with a new version suffix.

Compatibility, per event type:
- *backward* (internal events): a consumer built on the new schema reads every event written with
  the old one. Breaking: removing a field, changing a type, making an optional field required,
  adding a required field, narrowing an enum, a format or a bound. Adding an optional field,
  widening a type or an enum is allowed.
- *full* (partner-readable events): backward, and an old consumer reads new events too. Also
  breaking: widening a type or an enum, making a required field optional, adding a field without
  a default, relaxing a format or a bound.
Unknown-field policy (`additionalProperties`) is not compared: readers are told to ignore fields
they do not know (docs/events.md).

Make a release: `python -m linli_shared.contracts.released <version>`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from linli_shared.contracts.base import EventCatalogue, EventData

RELEASES_DIR = Path(__file__).parent
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_JSON_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")

Schema = Mapping[str, Any]


def event_schema(model: type[EventData]) -> dict[str, Any]:
    """The JSON Schema of an event's `data` as it is written on the wire."""
    return model.model_json_schema(mode="serialization")


def snapshot(catalogue: Iterable[type[EventData]]) -> dict[str, Any]:
    return {
        "event_types": {
            model.event_type: {
                "topic": model.topic,
                "key_field": model.key_field,
                "partner_readable": model.partner_readable,
                "schema": event_schema(model),
            }
            for model in sorted(catalogue, key=lambda m: m.event_type)
        }
    }


def releases() -> list[str]:
    """Released versions, oldest first."""
    found = [p.stem for p in RELEASES_DIR.glob("*.json") if _VERSION.match(p.stem)]
    return sorted(found, key=lambda v: tuple(int(part) for part in v.split(".")))


def load_release(version: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RELEASES_DIR / f"{version}.json").read_text("utf-8"))
    return loaded


def write_release(version: str, catalogue: EventCatalogue, directory: Path = RELEASES_DIR) -> Path:
    if not _VERSION.match(version):
        raise ValueError(f"a release version is MAJOR.MINOR.PATCH, not {version!r}")
    path = directory / f"{version}.json"
    if path.exists():
        raise FileExistsError(f"{path} exists: a release is never rewritten")
    path.write_text(json.dumps(snapshot(catalogue), indent=2, sort_keys=True) + "\n", "utf-8")
    return path


def incompatibilities(release: Mapping[str, Any], catalogue: EventCatalogue) -> list[str]:
    """Every way the current contracts break the released ones (empty when compatible)."""
    problems: list[str] = []
    for event_type, released in sorted(release["event_types"].items()):
        model = catalogue.model_for(event_type)
        if model is None:
            problems.append(f"{event_type}: released type removed from the catalogue")
            continue
        if model.topic != released["topic"]:
            problems.append(f"{event_type}: topic {released['topic']} -> {model.topic}")
        if model.key_field != released["key_field"]:
            problems.append(
                f"{event_type}: key field {released['key_field']} -> {model.key_field} "
                "(changes partitioning and order)"
            )
        if released["partner_readable"] and not model.partner_readable:
            problems.append(f"{event_type}: no longer partner-readable")
        full = bool(released["partner_readable"] or model.partner_readable)
        problems.extend(
            f"{event_type}: {problem}"
            for problem in breaking_changes(released["schema"], event_schema(model), full=full)
        )
    return problems


def breaking_changes(old: Schema, new: Schema, *, full: bool = False) -> list[str]:
    """What in `new` breaks readers or writers of `old` (see the module docstring)."""
    problems: list[str] = []
    _compare(old, new, "data", old, new, full, problems, set())
    return problems


def _resolve(schema: Schema, root: Schema) -> Schema:
    seen = 0
    while "$ref" in schema:
        ref = str(schema["$ref"])
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, not {ref}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        schema = target
        seen += 1
        if seen > 50:
            raise ValueError(f"reference cycle at {ref}")
    return schema


def _branches(schema: Schema, root: Schema) -> list[Schema]:
    """The alternatives of a union (anyOf/oneOf), each resolved; a plain schema is one."""
    schema = _resolve(schema, root)
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            return [b for branch in schema[keyword] for b in _branches(branch, root)]
    return [schema]


def _types(branches: Iterable[Schema]) -> set[str]:
    types: set[str] = set()
    for branch in branches:
        declared = branch.get("type")
        if isinstance(declared, str):
            types.add(declared)
        elif isinstance(declared, list):
            types.update(declared)
        elif "const" in branch or "enum" in branch:
            values = [branch["const"]] if "const" in branch else list(branch["enum"])
            types.update(_json_type(value) for value in values)
        else:
            return set(_JSON_TYPES)  # unconstrained
    return types


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _enum(branches: Iterable[Schema]) -> set[str] | None:
    """The allowed values (JSON-encoded) if every branch enumerates them, else None."""
    values: set[str] = set()
    for branch in branches:
        if "const" in branch:
            values.add(json.dumps(branch["const"], sort_keys=True))
        elif "enum" in branch:
            values.update(json.dumps(v, sort_keys=True) for v in branch["enum"])
        elif branch.get("type") == "null":
            values.add("null")
        else:
            return None
    return values


def _accepts(readers: set[str], writers: set[str]) -> bool:
    """Does a reader accepting `readers` types accept everything of `writers` types?"""
    widened = readers | ({"integer"} if "number" in readers else set())
    return writers <= widened


def _compare(
    old: Schema,
    new: Schema,
    path: str,
    old_root: Schema,
    new_root: Schema,
    full: bool,
    problems: list[str],
    visiting: set[tuple[int, int]],
) -> None:
    key = (id(old), id(new))
    if key in visiting:  # recursive schemas: compared once
        return
    visiting.add(key)
    old_branches = _branches(old, old_root)
    new_branches = _branches(new, new_root)
    old_types, new_types = _types(old_branches), _types(new_branches)

    if not _accepts(new_types, old_types):
        problems.append(
            f"{path}: type changed from {_fmt(old_types)} to {_fmt(new_types)} "
            "(old events no longer valid)"
        )
        return
    if full and not _accepts(old_types, new_types):
        problems.append(
            f"{path}: type widened from {_fmt(old_types)} to {_fmt(new_types)} "
            "(old readers cannot read new events)"
        )
        return

    old_enum, new_enum = _enum(old_branches), _enum(new_branches)
    if new_enum is not None and (old_enum is None or not old_enum <= new_enum):
        lost = sorted(old_enum - new_enum) if old_enum is not None else ["any value"]
        problems.append(f"{path}: enum narrowed, no longer allows {', '.join(lost)}")
    elif full and old_enum is not None and (new_enum is None or not new_enum <= old_enum):
        added = sorted(new_enum - old_enum) if new_enum is not None else ["any value"]
        problems.append(f"{path}: enum widened with {', '.join(added)} (old readers reject it)")

    old_one = [b for b in old_branches if b.get("type") != "null"]
    new_one = [b for b in new_branches if b.get("type") != "null"]
    if len(old_one) != 1 or len(new_one) != 1:
        return  # a union of several shapes: its types were compared above
    old_s, new_s = old_one[0], new_one[0]
    _compare_constraints(old_s, new_s, path, full, problems)
    if "object" in old_types and "object" in new_types:
        _compare_objects(old_s, new_s, path, old_root, new_root, full, problems, visiting)
    if "array" in old_types and "array" in new_types and "items" in old_s and "items" in new_s:
        _compare(
            old_s["items"], new_s["items"], f"{path}[]", old_root, new_root, full, problems,
            visiting,
        )  # fmt: skip


def _compare_constraints(
    old: Schema, new: Schema, path: str, full: bool, problems: list[str]
) -> None:
    if old.get("format") != new.get("format"):
        if new.get("format") is not None:
            problems.append(f"{path}: format {old.get('format')} -> {new.get('format')}")
        elif full:
            problems.append(f"{path}: format {old.get('format')} dropped (old readers check it)")
    if old.get("pattern") != new.get("pattern"):
        if new.get("pattern") is not None:
            problems.append(f"{path}: pattern {old.get('pattern')!r} -> {new.get('pattern')!r}")
        elif full:
            problems.append(f"{path}: pattern dropped (old readers check it)")
    for keyword in _LOWER_BOUNDS + _UPPER_BOUNDS:
        before, after = old.get(keyword), new.get(keyword)
        if before == after:
            continue
        lower = keyword in _LOWER_BOUNDS
        tightened = after is not None and (
            before is None or (after > before if lower else after < before)
        )
        if tightened:
            problems.append(f"{path}: {keyword} tightened {before} -> {after}")
        elif full:
            problems.append(f"{path}: {keyword} relaxed {before} -> {after} (old readers check it)")


def _compare_objects(
    old: Schema,
    new: Schema,
    path: str,
    old_root: Schema,
    new_root: Schema,
    full: bool,
    problems: list[str],
    visiting: set[tuple[int, int]],
) -> None:
    old_props: Mapping[str, Schema] = old.get("properties", {})
    new_props: Mapping[str, Schema] = new.get("properties", {})
    old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
    for name, old_prop in old_props.items():
        where = f"{path}.{name}"
        if name not in new_props:
            problems.append(f"{where}: field removed")
            continue
        if name in new_required and name not in old_required:
            problems.append(f"{where}: optional field made required")
        elif full and name in old_required and name not in new_required:
            problems.append(f"{where}: required field made optional (old readers need it)")
        _compare(old_prop, new_props[name], where, old_root, new_root, full, problems, visiting)
    for name, new_prop in new_props.items():
        if name in old_props:
            continue
        if name in new_required:
            problems.append(f"{path}.{name}: required field added (old events lack it)")
        elif full and "default" not in _resolve(new_prop, new_root) and "default" not in new_prop:
            problems.append(f"{path}.{name}: field added without a default")


def _fmt(types: set[str]) -> str:
    return "|".join(sorted(types))
