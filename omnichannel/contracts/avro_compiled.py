"""Avro writers and readers compiled from a contract's schema: the codecs' fast path.

fastavro interprets a schema for every record: it looks each field's type up, dispatches
logical types by name, tries a union's branches in turn, and writes from a dict that
`model_dump` first had to build. Here a contract's schema is turned once into the Python
source of one writer and one reader per record type, each field's encoding spelt out in schema
order: the writer takes the contract instance's attributes as they are, the reader builds the
instances back with `trusted`, since what it reads already holds the types validation gives
(enum symbols become members; `decimal(18, 4)` and `timestamp-micros` are read as Money and
UtcDatetime, which pass their validators by construction).

The writers write exactly the bytes fastavro writes. Anything off the common path raises
`Uncompiled` (a value of an unexpected type, an amount beyond eighteen digits, bytes that do
not read as this schema) and the codec does the record the slow way, through fastavro and
pydantic, to the same result or the same error. One difference is accepted: an amount with
more than four places that are all zeros (`1.00000`) is written as its value, where fastavro
refuses it; no contract instance holds one (Money refuses more than four places).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal
from enum import StrEnum
from typing import Annotated, Any

from omnichannel.contracts.common import (
    MONEY_PRECISION,
    MONEY_SCALE,
    Contract,
    _set_extra,
    _set_fields_set,
    _set_private,
)

Writer = Callable[[Contract, bytearray], None]
Reader = Callable[[bytes, int], tuple[Contract, int]]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
DAYS_SHIFT = date(1970, 1, 1).toordinal()
_INT64 = 1 << 63
# Amounts and timestamps repeat (prices, the second an event happened): each reader keeps
# the values it made, immutable and so safe to share, up to this many of each kind.
CACHE_SIZE = 1 << 16


class Uncompiled(Exception):
    """This record (or schema) is not for the compiled path: use fastavro and pydantic."""


def write_long(n: int) -> bytes:
    """Avro's zig-zag varint of a long, as fastavro writes it; OverflowError beyond 64 bits."""
    if 0 <= n < 64:
        return _SMALL_LONGS[n]
    if not -_INT64 <= n < _INT64:
        raise OverflowError(f"{n} does not fit a long")
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_SMALL_LONGS = tuple(bytes((n << 1,)) for n in range(64))


def read_long(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """The rest of a varint whose first byte (`first`, at `pos - 1`) had its high bit set."""
    n = first & 0x7F
    shift = 7
    while True:
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:
            raise Uncompiled("varint longer than ten bytes")
    if n >> 64:
        raise Uncompiled("varint beyond 64 bits")
    return (n >> 1) ^ -(n & 1), pos


def read_length(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """A length of more than one byte (or a negative one, which is refused)."""
    if first < 0x80:
        raise Uncompiled("negative length")
    length, pos = read_long(data, pos, first)
    if length < 0:
        raise Uncompiled("negative length")
    return length, pos


class _DecimalCodec:
    """`decimal(precision, scale)` on bytes, as fastavro writes and reads it."""

    def __init__(self, precision: int, scale: int) -> None:
        if scale > MONEY_SCALE or precision > MONEY_PRECISION:
            raise Uncompiled(f"decimal({precision}, {scale}) is not Money")
        self.scale = scale
        # Unscaled values below this pass Money's validation and fastavro's precision check.
        self.bound = 10 ** min(precision, MONEY_PRECISION - MONEY_SCALE + scale)
        self.context = Context(prec=precision)
        self.cache: dict[bytes, Decimal] = {}
        # Written amounts by value: equal amounts of at most `scale` places (the only ones
        # written here) have the same bytes, whatever their exponent.
        self.written: dict[Decimal, bytes] = {}

    def write(self, value: Decimal) -> bytes:
        """Length and two's complement bytes of the unscaled value."""
        scaled = value.scaleb(self.scale)
        unscaled = int(scaled)
        if scaled != unscaled or not -self.bound < unscaled < self.bound:
            raise Uncompiled(f"{value} is not a decimal of scale {self.scale}")
        raw = unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)
        encoded = bytes((len(raw) << 1,)) + raw
        if len(self.written) >= CACHE_SIZE:
            self.written.clear()
        self.written[value] = encoded
        return encoded

    def read(self, raw: bytes) -> Decimal:
        """The amount of two's complement bytes; kept in `cache` for the next time."""
        unscaled = int.from_bytes(raw, "big", signed=True)
        if not -self.bound < unscaled < self.bound:
            raise Uncompiled("amount beyond Money's bounds")
        value = self.context.create_decimal(unscaled).scaleb(-self.scale, self.context)
        if len(self.cache) >= CACHE_SIZE:
            self.cache.clear()
        self.cache[raw] = value
        return value


class _Timestamps:
    """timestamp-micros as fastavro writes and reads it; each kept for the next time."""

    def __init__(self) -> None:
        self.cache: dict[int, datetime] = {}
        self.written: dict[datetime, bytes] = {}

    def read(self, micros: int) -> datetime:
        """An aware datetime in UTC."""
        value = EPOCH + micros * ONE_MICROSECOND
        if len(self.cache) >= CACHE_SIZE:
            self.cache.clear()
        self.cache[micros] = value
        return value

    def write(self, moment: datetime) -> bytes:
        """The varint of an aware datetime's microseconds since the epoch."""
        if moment.tzinfo is None:
            # fastavro writes a naive datetime through the local time zone: not compiled.
            raise Uncompiled("naive datetime")
        delta = moment - EPOCH
        encoded = write_long((delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds)
        if len(self.written) >= CACHE_SIZE:
            self.written.clear()
        self.written[moment] = encoded
        return encoded


class _Source:
    """Python source being generated, with its indentation and fresh local names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0
        self._count = 0

    def add(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}{self._count}"


class _Compiler:
    """Generates the writer and reader functions of one top-level contract schema."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.scope: dict[str, Any] = {
            "Uncompiled": Uncompiled, "write_long": write_long, "read_long": read_long,
            "read_length": read_length, "SET": object.__setattr__, "NEW": object.__new__,
            "SET_FIELDS": _set_fields_set, "SET_EXTRA": _set_extra, "SET_PRIVATE": _set_private,
            "EPOCH": EPOCH,
            "Decimal": Decimal, "ONE_MICROSECOND": ONE_MICROSECOND, "DAYS_SHIFT": DAYS_SHIFT,
            "date": date,
        }  # fmt: skip
        timestamps = _Timestamps()
        self.scope.update(
            TIMES=timestamps.cache, TIME=timestamps.read,
            TIMES_WRITTEN=timestamps.written, WRITE_TIME=timestamps.write,
        )  # fmt: skip
        self._decimals: dict[tuple[int, int], _DecimalCodec] = {}
        self.records: dict[str, tuple[dict[str, Any], type[Contract]]] = {}
        self.enums: dict[str, tuple[dict[str, Any], type[StrEnum]]] = {}
        self.functions: list[str] = []
        self._constants = 0

    def constant(self, value: object, stem: str) -> str:
        self._constants += 1
        name = f"{stem}_{self._constants}"
        self.scope[name] = value
        return name

    def decimal(self, precision: int, scale: int) -> _DecimalCodec:
        """One codec (and one cache) per decimal type of the schema."""
        key = (precision, scale)
        if key not in self._decimals:
            self._decimals[key] = _DecimalCodec(precision, scale)
        return self._decimals[key]

    def full_name(self, name: str) -> str:
        return name if "." in name else f"{self.namespace}.{name}"

    def define(self, schema: Any, annotation: Any) -> None:
        """Register the named types of `schema` (with the Python type each maps to)."""
        annotation = _unwrap(annotation)
        if isinstance(schema, list):
            (branch,) = [s for s in schema if s != "null"]
            present = [a for a in typing.get_args(annotation) if a is not type(None)]
            self.define(branch, present[0] if present else annotation)
        elif isinstance(schema, dict):
            kind = schema["type"]
            if kind == "record":
                model = annotation
                self.records[self.full_name(schema["name"])] = (schema, model)
                for field in schema["fields"]:
                    self.define(field["type"], model.model_fields[field["name"]].annotation)
            elif kind == "enum":
                self.enums[self.full_name(schema["name"])] = (schema, annotation)
            elif kind == "array":
                (items,) = typing.get_args(annotation)
                self.define(schema["items"], items)
            elif kind == "map":
                _, values = typing.get_args(annotation)
                self.define(schema["values"], values)

    # Writers: code that writes the value in local `var` to bytearray `b`.

    def write(self, out: _Source, schema: Any, var: str) -> None:
        if isinstance(schema, str) and schema in self.records:
            out.add(f"w_{_ident(schema)}({var}, b)")
        elif isinstance(schema, str) and schema in self.enums:
            symbols = self.enums[schema][0]["symbols"]
            table = self.constant({s: write_long(i) for i, s in enumerate(symbols)}, "ENUM")
            out.add(f"b += {table}[{var}]")
        elif schema == "string":
            encoded = out.fresh("s")
            out.add(f"{encoded} = {var}.encode()")
            self._write_length(out, f"len({encoded})")
            out.add(f"b += {encoded}")
        elif schema == "bytes":
            self._write_length(out, f"len({var})")
            out.add(f"b += {var}")
        elif schema in ("long", "int"):
            out.add(f"if 0 <= {var} < 64: b.append({var} << 1)")
            out.add(f"else: b += write_long({var})")
        elif schema == "boolean":
            out.add(f"b.append(1 if {var} else 0)")
        elif isinstance(schema, list):
            self._write_union(out, schema, var)
        elif isinstance(schema, dict):
            self._write_complex(out, schema, var)
        else:
            raise Uncompiled(f"no compiled writer for {schema!r}")

    def _write_length(self, out: _Source, expression: str) -> None:
        length = out.fresh("n")
        out.add(f"{length} = {expression}")
        out.add(f"if {length} < 64: b.append({length} << 1)")
        out.add(f"else: b += write_long({length})")

    def _write_union(self, out: _Source, schema: list[Any], var: str) -> None:
        if len(schema) != 2 or "null" not in schema:
            raise Uncompiled(f"only unions with null are compiled: {schema}")
        null_index = schema.index("null")
        branch = schema[1 - null_index]
        out.add(f"if {var} is None: b.append({null_index << 1})")
        out.add("else:")
        out.depth += 1
        out.add(f"b.append({(1 - null_index) << 1})")
        self.write(out, branch, var)
        out.depth -= 1

    def _write_complex(self, out: _Source, schema: dict[str, Any], var: str) -> None:
        kind, logical = schema["type"], schema.get("logicalType")
        if kind == "bytes" and logical == "decimal":
            codec = self.decimal(schema["precision"], schema.get("scale", 0))
            written, write = (
                self.constant(codec.written, "WRITTEN"),
                self.constant(codec.write, "DECIMAL"),
            )
            encoded = out.fresh("r")
            # Looked up by value: an int equal to a cached amount must not be written as one.
            out.add(f"{encoded} = {written}.get({var}) if {var}.__class__ is Decimal else None")
            out.add(f"b += {encoded} if {encoded} is not None else {write}({var})")
        elif kind == "long" and logical == "timestamp-micros":
            encoded = out.fresh("r")
            out.add(f"{encoded} = TIMES_WRITTEN.get({var})")
            out.add(f"b += {encoded} if {encoded} is not None else WRITE_TIME({var})")
        elif kind == "int" and logical == "date":
            out.add(f"b += write_long({var}.toordinal() - DAYS_SHIFT)")
        elif kind == "array":
            item = out.fresh("i")
            out.add(f"if {var}:")
            out.depth += 1
            self._write_length(out, f"len({var})")
            out.add(f"for {item} in {var}:")
            out.depth += 1
            self.write(out, schema["items"], item)
            out.depth -= 2
            out.add("b.append(0)")
        elif kind == "map":
            key, value = out.fresh("k"), out.fresh("v")
            out.add(f"if {var}:")
            out.depth += 1
            self._write_length(out, f"len({var})")
            out.add(f"for {key}, {value} in {var}.items():")
            out.depth += 1
            self.write(out, "string", key)
            self.write(out, schema["values"], value)
            out.depth -= 2
            out.add("b.append(0)")
        elif kind in ("record", "enum"):
            self.write(out, self.full_name(schema["name"]), var)
        elif logical is None and isinstance(kind, str):
            self.write(out, kind, var)
        else:
            raise Uncompiled(f"no compiled writer for {schema!r}")

    def record_writer(self, name: str) -> None:
        schema, _ = self.records[name]
        out = _Source()
        out.add(f"def w_{_ident(name)}(o, b):")
        out.depth += 1
        for field in schema["fields"]:
            var = out.fresh("f")
            out.add(f"{var} = o.{field['name']}")
            self.write(out, field["type"], var)
        self.functions.append("\n".join(out.lines))

    # Readers: code that reads a value from bytes `d` at position `p` into local `var`.

    def read(self, out: _Source, schema: Any, var: str) -> None:
        if isinstance(schema, str) and schema in self.records:
            out.add(f"{var}, p = r_{_ident(schema)}(d, p)")
        elif isinstance(schema, str) and schema in self.enums:
            members = self.constant(tuple(self._members(schema)), "MEMBERS")
            index = out.fresh("e")
            self._read_long(out, index)
            out.add(f"if not 0 <= {index} < {len(self.enums[schema][0]['symbols'])}: "
                    "raise Uncompiled('enum index')")  # fmt: skip
            out.add(f"{var} = {members}[{index}]")
        elif schema == "string":
            length = self._read_length(out)
            out.add(f"{var} = d[p:p + {length}].decode()")
            out.add(f"p += {length}")
        elif schema == "bytes":
            length = self._read_length(out)
            out.add(f"{var} = d[p:p + {length}]")
            out.add(f"p += {length}")
        elif schema in ("long", "int"):
            self._read_long(out, var)
        elif schema == "boolean":
            out.add(f"{var} = d[p]")
            out.add("p += 1")
            out.add(f"if {var} > 1: raise Uncompiled('boolean byte')")
            out.add(f"{var} = {var} == 1")
        elif isinstance(schema, list):
            self._read_union(out, schema, var)
        elif isinstance(schema, dict):
            self._read_complex(out, schema, var)
        else:
            raise Uncompiled(f"no compiled reader for {schema!r}")

    def _members(self, name: str) -> list[StrEnum]:
        schema, enum = self.enums[name]
        return [enum(symbol) for symbol in schema["symbols"]]

    def _read_long(self, out: _Source, var: str) -> None:
        byte = out.fresh("x")
        out.add(f"{byte} = d[p]")
        out.add("p += 1")
        out.add(f"if {byte} < 128: {var} = ({byte} >> 1) ^ -({byte} & 1)")
        out.add(f"else: {var}, p = read_long(d, p, {byte})")

    def _read_length(self, out: _Source) -> str:
        byte, length = out.fresh("x"), out.fresh("n")
        out.add(f"{byte} = d[p]")
        out.add("p += 1")
        out.add(f"if {byte} < 128 and not {byte} & 1: {length} = {byte} >> 1")
        out.add(f"else: {length}, p = read_length(d, p, {byte})")
        return length

    def _read_union(self, out: _Source, schema: list[Any], var: str) -> None:
        if len(schema) != 2 or "null" not in schema:
            raise Uncompiled(f"only unions with null are compiled: {schema}")
        null_index = schema.index("null")
        index = out.fresh("e")
        self._read_long(out, index)
        out.add(f"if {index} == {null_index}: {var} = None")
        out.add(f"elif {index} == {1 - null_index}:")
        out.depth += 1
        self.read(out, schema[1 - null_index], var)
        out.depth -= 1
        out.add("else: raise Uncompiled('union index')")

    def _read_complex(self, out: _Source, schema: dict[str, Any], var: str) -> None:
        kind, logical = schema["type"], schema.get("logicalType")
        if kind == "bytes" and logical == "decimal":
            codec = self.decimal(schema["precision"], schema.get("scale", 0))
            length, raw = self._read_length(out), out.fresh("r")
            cache, read = self.constant(codec.cache, "AMOUNTS"), self.constant(codec.read, "AMOUNT")
            out.add(f"{raw} = d[p:p + {length}]")
            out.add(f"p += {length}")
            out.add(f"{var} = {cache}.get({raw})")
            out.add(f"if {var} is None: {var} = {read}({raw})")
        elif kind == "long" and logical == "timestamp-micros":
            micros = out.fresh("u")
            self._read_long(out, micros)
            out.add(f"{var} = TIMES.get({micros})")
            out.add(f"if {var} is None: {var} = TIME({micros})")
        elif kind == "int" and logical == "date":
            days = out.fresh("u")
            self._read_long(out, days)
            out.add(f"{var} = date.fromordinal({days} + DAYS_SHIFT)")
        elif kind in ("array", "map"):
            self._read_blocks(out, schema, var)
        elif kind in ("record", "enum"):
            self.read(out, self.full_name(schema["name"]), var)
        elif logical is None and isinstance(kind, str):
            self.read(out, kind, var)
        else:
            raise Uncompiled(f"no compiled reader for {schema!r}")

    def _each_item(self, out: _Source) -> None:
        """Open the loops over an array's or map's blocks and their items; the caller writes
        the item's code at the depth this leaves, then closes both (`out.depth -= 2`)."""
        count, size = out.fresh("c"), out.fresh("z")
        out.add("while True:")
        out.depth += 1
        self._read_long(out, count)
        out.add(f"if {count} == 0: break")
        out.add(f"if {count} < 0:")
        out.depth += 1
        out.add(f"{count} = -{count}")
        self._read_long(out, size)
        out.depth -= 1
        out.add(f"for _ in range({count}):")
        out.depth += 1

    def _read_blocks(self, out: _Source, schema: dict[str, Any], var: str) -> None:
        out.add(f"{var} = []" if schema["type"] == "array" else f"{var} = {{}}")
        self._each_item(out)
        if schema["type"] == "array":
            item = out.fresh("i")
            self.read(out, schema["items"], item)
            out.add(f"{var}.append({item})")
        else:
            key, value = out.fresh("k"), out.fresh("v")
            self.read(out, "string", key)
            self.read(out, schema["values"], value)
            out.add(f"{var}[{key}] = {value}")
        out.depth -= 2

    def record_reader(self, name: str) -> None:
        schema, model = self.records[name]
        out = _Source()
        cls = self.constant(model, "MODEL")
        out.add(f"def r_{_ident(name)}(d, p):")
        out.depth += 1
        names = []
        for field in schema["fields"]:
            var = out.fresh("f")
            self.read(out, field["type"], var)
            names.append(f"{field['name']!r}: {var}")
        instance = out.fresh("m")
        # `trusted`, spelt out: the slots pydantic gives every instance.
        out.add(f"{instance} = NEW({cls})")
        out.add(f"SET({instance}, '__dict__', {{{', '.join(names)}}})")
        # One set of field names for every instance read: pydantic copies it before it
        # changes one (model_copy), and a frozen contract has nothing else that would.
        every_field = self.constant(set(model.model_fields), "FIELDS")
        out.add(f"SET_FIELDS({instance}, {every_field})")
        out.add(f"SET_EXTRA({instance}, None)")
        out.add(f"SET_PRIVATE({instance}, None)")
        out.add(f"return {instance}, p")
        self.functions.append("\n".join(out.lines))


class CompiledCodec:
    """The compiled writer and reader of one contract's schema."""

    def __init__(self, model: type[Contract], schema: dict[str, Any]) -> None:
        """Compile; raises Uncompiled when the schema has a type this module does not compile."""
        compiler = _Compiler(schema.get("namespace", ""))
        compiler.define(schema, model)
        top = compiler.full_name(schema["name"])
        for name in compiler.records:
            compiler.record_writer(name)
            compiler.record_reader(name)
        source = "\n\n".join(compiler.functions)
        scope = compiler.scope
        exec(compile(source, f"<compiled Avro codec of {model.__name__}>", "exec"), scope)
        self.source = source
        self._write: Writer = scope[f"w_{_ident(top)}"]
        self._read: Reader = scope[f"r_{_ident(top)}"]

    def write(self, instance: Contract, header: bytes) -> bytes:
        """`header` then the Avro binary body of `instance`; Uncompiled (or another error) when
        the instance is not for the compiled path."""
        out = bytearray(header)
        self._write(instance, out)
        return bytes(out)

    def write_into(self, instance: Contract, out: bytearray) -> None:
        """Append the Avro binary body of `instance` to `out`; on an error, `out` may hold part
        of it (the caller cuts it back)."""
        self._write(instance, out)

    def read(self, data: bytes, start: int) -> Contract:
        """The instance whose body starts at `start` and ends exactly at the end of `data`."""
        instance, end = self._read(data, start)
        if end != len(data):
            raise Uncompiled("the record does not end where the data does")
        return instance


def _unwrap(annotation: Any) -> Any:
    if typing.get_origin(annotation) is Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def _ident(name: str) -> str:
    return name.replace(".", "_")


# A projection: the fields of a record to read, each None (its whole value, as the codec's
# reader gives it) or, for a record or an array of records, the projection of its fields.
Projection = dict[str, "Projection | None"]


class ProjectedReader:
    """Reads only some fields of a contract's records: the others are skipped, unread.

    For a flow that needs a few fields of a large record (availability reads an order event's
    lines for their SKUs and quantities, not their prices and taxes). The top-level record
    becomes `make(*values)`, the values in the projection's order; a nested record becomes a
    tuple of its projected fields, an array of records a tuple of those. Raises Uncompiled,
    or another error, when the bytes do not read as the schema: the caller reads the record
    the slow way, which gives the same values or the proper error.
    """

    def __init__(
        self,
        model: type[Contract],
        schema: dict[str, Any],
        projection: Projection,
        make: Callable[..., Any],
    ) -> None:
        compiler = _ProjectionCompiler(schema.get("namespace", ""))
        compiler.define(schema, model)
        for name in compiler.records:
            compiler.record_reader(name)
            compiler.record_skipper(name)
        top = compiler.full_name(schema["name"])
        function = compiler.projected_reader(top, projection, compiler.constant(make, "MAKE"))
        source = "\n\n".join(compiler.functions)
        scope = compiler.scope
        exec(compile(source, f"<projected Avro reader of {model.__name__}>", "exec"), scope)
        self.source = source
        self._read: Callable[[bytes, int], tuple[Any, int]] = scope[function]

    def read(self, data: bytes, start: int) -> Any:
        """The projection of the record whose body starts at `start` and ends with `data`."""
        value, end = self._read(data, start)
        if end != len(data):
            raise Uncompiled("the record does not end where the data does")
        return value


class _ProjectionCompiler(_Compiler):
    """Also generates skippers (moving past a value unread) and projected readers."""

    def skip(self, out: _Source, schema: Any) -> None:
        """Code that moves `p` past a value of `schema` in `d` without reading it."""
        if isinstance(schema, str) and schema in self.records:
            out.add(f"p = s_{_ident(schema)}(d, p)")
        elif (isinstance(schema, str) and schema in self.enums) or schema in ("long", "int"):
            self._skip_varint(out)
        elif schema in ("string", "bytes"):
            length = self._read_length(out)
            out.add(f"p += {length}")
        elif schema == "boolean":
            out.add("p += 1")
        elif isinstance(schema, list):
            if len(schema) != 2 or "null" not in schema:
                raise Uncompiled(f"only unions with null are compiled: {schema}")
            null_index = schema.index("null")
            index = out.fresh("e")
            self._read_long(out, index)
            out.add(f"if {index} == {1 - null_index}:")
            out.depth += 1
            self.skip(out, schema[1 - null_index])
            out.depth -= 1
            out.add(f"elif {index} != {null_index}: raise Uncompiled('union index')")
        elif isinstance(schema, dict):
            kind, logical = schema["type"], schema.get("logicalType")
            if kind in ("record", "enum"):
                self.skip(out, self.full_name(schema["name"]))
            elif kind in ("array", "map"):
                count, size = out.fresh("c"), out.fresh("z")
                out.add("while True:")
                out.depth += 1
                self._read_long(out, count)
                out.add(f"if {count} == 0: break")
                out.add(f"if {count} < 0:")
                out.depth += 1
                self._read_long(out, size)
                out.add(f"p += {size}")
                out.add("continue")
                out.depth -= 1
                out.add(f"for _ in range({count}):")
                out.depth += 1
                if kind == "map":
                    self.skip(out, "string")
                self.skip(out, schema["items"] if kind == "array" else schema["values"])
                out.depth -= 2
            elif logical is not None or isinstance(kind, str):
                self.skip(out, kind)
            else:
                raise Uncompiled(f"no compiled skipper for {schema!r}")
        else:
            raise Uncompiled(f"no compiled skipper for {schema!r}")

    @staticmethod
    def _skip_varint(out: _Source) -> None:
        out.add("while d[p] & 128: p += 1")
        out.add("p += 1")

    def _named(self, schema: Any) -> Any:
        """A record's schema for its name or inline definition; anything else as it is."""
        if isinstance(schema, dict) and schema.get("type") == "record":
            return self.records[self.full_name(schema["name"])][0]
        if isinstance(schema, str) and schema in self.records:
            return self.records[schema][0]
        return schema

    def record_skipper(self, name: str) -> None:
        schema, _ = self.records[name]
        out = _Source()
        out.add(f"def s_{_ident(name)}(d, p):")
        out.depth += 1
        for field in schema["fields"]:
            self.skip(out, field["type"])
        out.add("return p")
        self.functions.append("\n".join(out.lines))

    def projected_reader(self, name: str, projection: Projection, make: str | None = None) -> str:
        """Generate the reader of `projection` of record `name`; return its function's name."""
        schema = self.records[name][0]
        unknown = set(projection) - {field["name"] for field in schema["fields"]}
        if unknown:
            raise Uncompiled(f"{name} has no field {sorted(unknown)}")
        function = f"q_{_ident(name)}_{len(self.functions)}"
        out = _Source()
        out.add(f"def {function}(d, p):")
        out.depth += 1
        values: dict[str, str] = {}
        for field in schema["fields"]:
            if field["name"] not in projection:
                self.skip(out, field["type"])
                continue
            var = values[field["name"]] = out.fresh("f")
            inner = projection[field["name"]]
            if inner is None:
                self.read(out, field["type"], var)
            else:
                self._read_projected(out, field["type"], inner, var)
        ordered = ", ".join(values[field] for field in projection)
        result = f"{make}({ordered})" if make else f"({ordered},)"
        out.add(f"return {result}, p")
        self.functions.append("\n".join(out.lines))
        return function

    def _read_projected(self, out: _Source, schema: Any, projection: Projection, var: str) -> None:
        resolved = self._named(schema)
        if isinstance(resolved, dict) and resolved.get("type") == "record":
            inner = self.projected_reader(self.full_name(resolved["name"]), projection)
            out.add(f"{var}, p = {inner}(d, p)")
        elif isinstance(resolved, dict) and resolved.get("type") == "array":
            items = self._named(resolved["items"])
            if not (isinstance(items, dict) and items.get("type") == "record"):
                raise Uncompiled(f"only arrays of records are projected: {schema!r}")
            inner = self.projected_reader(self.full_name(items["name"]), projection)
            item, gathered = out.fresh("i"), out.fresh("a")
            out.add(f"{gathered} = []")
            self._each_item(out)
            out.add(f"{item}, p = {inner}(d, p)")
            out.add(f"{gathered}.append({item})")
            out.depth -= 2
            out.add(f"{var} = tuple({gathered})")
        else:
            raise Uncompiled(f"only records and arrays of records are projected: {schema!r}")
