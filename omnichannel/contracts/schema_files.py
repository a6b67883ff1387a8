"""The committed Avro schema files, and the gate that keeps their evolution safe.

`avro/<Name>.avsc` is each contract's current schema, generated from its model; a released
version is frozen as `avro/released/<Name>/v<N>.avsc`. `check_evolution` is what CI runs: the
committed files must equal what the models generate, and every current schema must read data
written with every released version of it, which is checked twice: by Apache Avro's
reader/writer compatibility checker, and by writing sample records with the old schema and
reading them with the new one through fastavro.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.schema import SchemaParseException, expand_schema

from omnichannel.contracts.avro_schema import avro_schema
from omnichannel.contracts.common import Contract

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "avro"
RELEASED = "released"
SCHEMA_SUFFIX = ".avsc"
_VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.avsc\Z")
# What fastavro raises when a schema cannot be parsed, a datum not written or not resolved.
_FASTAVRO_FAILURES = (SchemaParseException, SchemaResolutionError, ValueError, TypeError, KeyError)

Contracts = Mapping[str, type[Contract]]


class SchemaFileError(Exception):
    """A schema file operation that cannot go ahead; the message says why and what to do."""


def schema_text(schema: Mapping[str, Any]) -> str:
    """Return a schema as its file text: 2-space indented JSON in generation order, newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def current_file(folder: Path, name: str) -> Path:
    """Return the path of a contract's current schema file."""
    return folder / f"{name}{SCHEMA_SUFFIX}"


def released_files(folder: Path, name: str) -> list[Path]:
    """Return a contract's released schema files, oldest version first."""
    versions = []
    for path in (folder / RELEASED / name).glob(f"*{SCHEMA_SUFFIX}"):
        match = _VERSION_FILE.match(path.name)
        if match is None:
            raise SchemaFileError(f"{path}: released schemas are named v<N>{SCHEMA_SUFFIX}")
        versions.append((int(match.group(1)), path))
    return [path for _, path in sorted(versions)]


def released_schemas(name: str, folder: Path = DEFAULT_FOLDER) -> list[dict[str, Any]]:
    """Return a contract's released schemas, oldest first: what a reader must still read."""
    return [_load(path) for path in released_files(folder, name)]


def write_schemas(folder: Path = DEFAULT_FOLDER, contracts: Contracts | None = None) -> list[Path]:
    """Regenerate every current schema file from its model; remove files of unknown contracts.

    Returns the files written, in registry order. Released versions are never touched.
    """
    contracts = _registry() if contracts is None else contracts
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in contracts.items():
        path = current_file(folder, name)
        path.write_text(schema_text(_generate(name, model)), encoding="utf-8")
        written.append(path)
    for stale in folder.glob(f"*{SCHEMA_SUFFIX}"):
        if stale.stem not in contracts:
            stale.unlink()
    return written


def release(name: str, folder: Path = DEFAULT_FOLDER, contracts: Contracts | None = None) -> Path:
    """Freeze a contract's current schema as its next released version; return the new file.

    The current file must equal what the model generates, and differ from the last release.
    """
    contracts = _registry() if contracts is None else contracts
    if name not in contracts:
        raise SchemaFileError(f"no contract named {name}; known: {', '.join(contracts)}")
    path = current_file(folder, name)
    generated = schema_text(_generate(name, contracts[name]))
    if not path.is_file() or path.read_text(encoding="utf-8") != generated:
        raise SchemaFileError(f"{path} is missing or stale: run `omni contracts write` first")
    previous = released_files(folder, name)
    if previous and _load(previous[-1]) == json.loads(generated):
        raise SchemaFileError(f"{name} is unchanged since {previous[-1].name}: nothing to release")
    target = folder / RELEASED / name / f"v{len(previous) + 1}{SCHEMA_SUFFIX}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return target


def check_evolution(folder: Path = DEFAULT_FOLDER, contracts: Contracts | None = None) -> list[str]:
    """Return every problem with the schema files; an empty list means the gate passes.

    Checked: only `.avsc` files under the folder; each current file equals its model's
    schema; each current schema reads data written with every released version of it;
    no released contract has left the registry.
    """
    contracts = _registry() if contracts is None else contracts
    _require_apache_avro()
    problems = [
        f"{path}: only {SCHEMA_SUFFIX} files belong in {folder}"
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix != SCHEMA_SUFFIX
    ]
    for name, model in contracts.items():
        try:
            current = _generate(name, model)
            released = released_files(folder, name)
        except SchemaFileError as exc:
            problems.append(str(exc))
            continue
        problems += _drift_problems(folder, name, current)
        for path in released:
            problems += _read_problems(name, current, path)
    released_root = folder / RELEASED
    if released_root.is_dir():
        problems += [
            f"{entry}: released contract {entry.name} is no longer in the registry"
            for entry in sorted(released_root.iterdir())
            if entry.name not in contracts
        ]
    return problems


def _drift_problems(folder: Path, name: str, generated: dict[str, Any]) -> list[str]:
    path = current_file(folder, name)
    if not path.is_file():
        return [f"{path} is missing: run `omni contracts write`"]
    if path.read_text(encoding="utf-8") != schema_text(generated):
        return [f"{path} differs from the {name} model: run `omni contracts write`"]
    return []


def _read_problems(name: str, current: dict[str, Any], path: Path) -> list[str]:
    """Problems reading data written with the released schema at `path` as `current`."""
    label = f"{name}: current schema cannot read data written with {path.name}"
    try:
        released = _load(path)
        checker_messages = _checker_incompatibilities(reader=current, writer=released)
    except SchemaFileError as exc:
        return [f"{label}: not a valid schema ({exc})"]
    problems = [f"{label} (Avro checker): {message}" for message in checker_messages]
    for filled in (True, False):
        try:
            _write_then_read(released, current, filled=filled)
        except _FASTAVRO_FAILURES as exc:
            kind = "filled" if filled else "sparse"
            problems.append(f"{label} (fastavro, {kind} sample): {type(exc).__name__}: {exc}")
    return problems


def _require_apache_avro() -> None:
    """Fail early, and say what to do, when the dev-only Apache Avro package is missing."""
    try:
        import avro.compatibility  # noqa: F401
    except ImportError as exc:
        raise SchemaFileError(
            "the evolution gate needs Apache Avro: install the dev extras (pip install -e '.[dev]')"
        ) from exc


def _checker_incompatibilities(reader: dict[str, Any], writer: dict[str, Any]) -> list[str]:
    """Run Apache Avro's ReaderWriterCompatibilityChecker; return its messages, if any."""
    import avro.compatibility
    import avro.errors
    import avro.schema

    try:
        reader_schema = avro.schema.parse(json.dumps(reader))
        writer_schema = avro.schema.parse(json.dumps(writer))
    except avro.errors.AvroException as exc:
        raise SchemaFileError(str(exc)) from exc
    checker = avro.compatibility.ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader=reader_schema, writer=writer_schema)
    if result.compatibility is avro.compatibility.SchemaCompatibilityType.compatible:
        return []
    kinds = ", ".join(sorted({kind.value for kind in result.incompatibilities}))
    messages = "; ".join(sorted(result.messages))
    return [f"{kinds}: {messages} (at {', '.join(sorted(result.locations))})"]


def _write_then_read(writer: dict[str, Any], reader: dict[str, Any], *, filled: bool) -> None:
    """Write a sample record with `writer`, read it back with `reader` (schema resolution)."""
    writer_parsed = parse_schema(writer)
    buffer = BytesIO()
    schemaless_writer(buffer, writer_parsed, sample_record(writer_parsed, filled=filled))
    buffer.seek(0)
    schemaless_reader(buffer, writer_parsed, parse_schema(reader))


def sample_record(schema: Any, *, filled: bool) -> Any:
    """Return a datum a schema accepts, to write with an old schema and read with the new one.

    `filled` takes every union's non-null branch and puts one item in each array and map;
    otherwise unions are null where they can be, collections empty, and enums take their last
    symbol instead of the first.
    """
    return _sample(expand_schema(schema), filled)


_SAMPLE_PRIMITIVES: dict[str, Any] = {
    "null": None,
    "boolean": True,
    "int": 7,
    "long": 7,
    "float": 1.5,
    "double": 1.5,
    "bytes": b"\x00\xff",
    "string": "sample",
}
_SAMPLE_LOGICAL: dict[str, Any] = {
    "timestamp-micros": datetime(2026, 11, 27, 8, 15, 2, 123456, tzinfo=UTC),
    "timestamp-millis": datetime(2026, 11, 27, 8, 15, 2, 123000, tzinfo=UTC),
    "date": date(2026, 11, 27),
}


def _sample(schema: Any, filled: bool) -> Any:
    if isinstance(schema, list):
        branches = [branch for branch in schema if branch != "null"]
        if not branches or ("null" in schema and not filled):
            return None
        return _sample(branches[0], filled)
    if isinstance(schema, str):
        return _SAMPLE_PRIMITIVES[schema]
    kind, logical = schema["type"], schema.get("logicalType")
    if logical == "decimal":
        return Decimal(1).scaleb(-schema.get("scale", 0))
    if logical in _SAMPLE_LOGICAL:
        return _SAMPLE_LOGICAL[logical]
    if kind == "record":
        return {field["name"]: _sample(field["type"], filled) for field in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][0 if filled else -1]
    if kind == "array":
        return [_sample(schema["items"], filled)] if filled else []
    if kind == "map":
        return {"key": _sample(schema["values"], filled)} if filled else {}
    if kind == "fixed":
        return bytes(schema["size"])
    return _sample(kind, filled)


def _generate(name: str, model: type[Contract]) -> dict[str, Any]:
    schema = avro_schema(model)
    if schema["name"] != name:
        raise SchemaFileError(f"contract registered as {name} generates record {schema['name']}")
    return schema


def _load(path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SchemaFileError(f"{path}: {exc}") from exc
    if not isinstance(schema, dict):
        raise SchemaFileError(f"{path}: a contract schema is a JSON object (an Avro record)")
    return schema


def _registry() -> Contracts:
    from omnichannel.contracts.registry import CONTRACTS

    return CONTRACTS
