"""A small JSON Schema validator (standard library only).

It covers the subset that agent contracts use: ``type``, ``properties``,
``required``, ``additionalProperties``, ``patternProperties``, ``items`` /
``prefixItems``, ``enum``, ``const``, the numeric and length bounds,
``pattern``, ``uniqueItems``, ``anyOf`` / ``oneOf`` / ``allOf`` / ``not``,
``if`` / ``then`` / ``else``, ``dependentRequired`` / ``dependentSchemas`` /
``dependencies``, ``contains``, ``propertyNames`` and local ``$ref``
(``#``, ``#/$defs/...``, ``#/definitions/...``, any local JSON Pointer).
``format`` is an annotation and is not checked.  Remote ``$ref`` raises
:class:`SchemaError`.  Semantics follow draft 2020-12 (``$ref`` siblings are
evaluated too), which is what MCP 2025-11-25 assumes for tool schemas.

Errors carry the JSON Pointer (RFC 6901) of the offending value, the same way
the daemon reports ``output-schema-violation``.

    >>> validate({"n": "x"}, {"type": "object", "properties": {"n": {"type": "integer"}}})
    Traceback (most recent call last):
    ...
    atlas.jsonschema.ValidationError: /n: expected integer, got string
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any, Iterator

__all__ = ["SchemaError", "ValidationError", "validate", "iter_errors", "is_valid",
           "apply_defaults", "pointer_escape"]

# $ref chains and nested combinators deeper than this are treated as a
# broken (probably self-referencing) schema rather than recursing forever.
_MAX_DEPTH = 128


class SchemaError(Exception):
    """The schema itself is unusable (bad keyword value, remote $ref, loop)."""


class ValidationError(Exception):
    """An instance does not match a schema.

    ``pointer`` is the JSON Pointer of the failing value ("" is the root),
    ``message`` says what is wrong with it.
    """

    def __init__(self, pointer: str, message: str):
        super().__init__(f"{pointer or '(root)'}: {message}")
        self.pointer = pointer
        self.message = message


def pointer_escape(token: str) -> str:
    """Escape one reference token for a JSON Pointer (RFC 6901 section 4)."""
    return token.replace("~", "~0").replace("/", "~1")


def _type_name(value: Any) -> str:
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
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    raise SchemaError(f"unknown type {name!r}")


def _json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: 1 == 1.0, but true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


_pattern_cache: dict[str, re.Pattern] = {}


def _regex(pattern: str) -> re.Pattern:
    rx = _pattern_cache.get(pattern)
    if rx is None:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise SchemaError(f"bad pattern {pattern!r}: {exc}") from None
        if len(_pattern_cache) < 1024:
            _pattern_cache[pattern] = rx
    return rx


def _resolve_ref(root: Any, ref: str) -> Any:
    """Resolve a local $ref ("#" or "#/a/b") against the root schema."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise SchemaError(f"only local $ref is supported, got {ref!r}")
    frag = ref[1:]
    node = root
    if frag == "":
        return node
    if not frag.startswith("/"):
        raise SchemaError(f"unsupported $ref {ref!r} (anchors are not supported)")
    for raw in frag[1:].split("/"):
        # URI fragments may be percent-encoded; then RFC 6901 unescaping.
        token = re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), raw)
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise SchemaError(f"$ref {ref!r} does not resolve")
    return node


def _fmt(value: Any) -> str:
    import json
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def iter_errors(instance: Any, schema: Any, root: Any = None, pointer: str = "",
                depth: int = 0) -> Iterator[ValidationError]:
    """Yield every :class:`ValidationError` of ``instance`` against ``schema``.

    ``root`` is the schema that local ``$ref`` resolves against (defaults to
    ``schema``); ``pointer`` prefixes the reported locations.
    """
    if root is None:
        root = schema
    if depth > _MAX_DEPTH:
        raise SchemaError("schema nests too deeply (a $ref loop?)")
    if schema is True or schema == {}:
        return
    if schema is False:
        yield ValidationError(pointer, "no value is allowed here")
        return
    if not isinstance(schema, dict):
        raise SchemaError(f"a schema must be an object or a boolean, got {_type_name(schema)}")
    d = depth + 1

    if "$ref" in schema:
        yield from iter_errors(instance, _resolve_ref(root, schema["$ref"]), root, pointer, d)

    t = schema.get("type")
    if t is not None:
        names = t if isinstance(t, list) else [t]
        if not any(_is_type(instance, n) for n in names):
            want = " or ".join(names)
            yield ValidationError(pointer, f"expected {want}, got {_type_name(instance)}")
            return  # the other keywords would only add noise

    if "enum" in schema:
        if not any(_json_equal(instance, v) for v in schema["enum"]):
            opts = ", ".join(_fmt(v) for v in schema["enum"])
            yield ValidationError(pointer, f"must be one of {opts}")
    if "const" in schema and not _json_equal(instance, schema["const"]):
        yield ValidationError(pointer, f"must be {_fmt(schema['const'])}")

    if isinstance(instance, (int, float)) and not isinstance(instance, bool):
        yield from _numeric(instance, schema, pointer)
    elif isinstance(instance, str):
        n = len(instance)  # code points, as the spec asks
        if "minLength" in schema and n < schema["minLength"]:
            yield ValidationError(pointer, f"must be at least {schema['minLength']} characters long")
        if "maxLength" in schema and n > schema["maxLength"]:
            yield ValidationError(pointer, f"must be at most {schema['maxLength']} characters long")
        if "pattern" in schema and not _regex(schema["pattern"]).search(instance):
            yield ValidationError(pointer, f"does not match pattern {schema['pattern']!r}")
    elif isinstance(instance, list):
        yield from _array(instance, schema, root, pointer, d)
    elif isinstance(instance, dict):
        yield from _object(instance, schema, root, pointer, d)

    for sub in schema.get("allOf", ()):
        yield from iter_errors(instance, sub, root, pointer, d)
    if "anyOf" in schema:
        branches = schema["anyOf"]
        if not any(_valid(instance, s, root, pointer, d) for s in branches):
            yield _best_branch_error(instance, branches, root, pointer, d,
                                     "does not match any of the allowed schemas (anyOf)")
    if "oneOf" in schema:
        branches = schema["oneOf"]
        hits = sum(1 for s in branches if _valid(instance, s, root, pointer, d))
        if hits == 0:
            yield _best_branch_error(instance, branches, root, pointer, d,
                                     "does not match any of the allowed schemas (oneOf)")
        elif hits > 1:
            yield ValidationError(pointer, f"matches {hits} schemas of oneOf, exactly one allowed")
    if "not" in schema and _valid(instance, schema["not"], root, pointer, d):
        yield ValidationError(pointer, "matches a schema it must not match (not)")
    if "if" in schema:
        if _valid(instance, schema["if"], root, pointer, d):
            if "then" in schema:
                yield from iter_errors(instance, schema["then"], root, pointer, d)
        elif "else" in schema:
            yield from iter_errors(instance, schema["else"], root, pointer, d)


def _best_branch_error(instance, branches, root, pointer, depth, fallback) -> ValidationError:
    """With a single branch its own error is the clearest message."""
    if len(branches) == 1:
        for err in iter_errors(instance, branches[0], root, pointer, depth):
            return err
    return ValidationError(pointer, fallback)


def _numeric(value, schema, pointer) -> Iterator[ValidationError]:
    if isinstance(value, float) and not math.isfinite(value):
        yield ValidationError(pointer, "must be a finite number")
        return
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    # Draft 4 spelled exclusive bounds as booleans next to minimum/maximum.
    if xlo is True:
        xlo, lo = lo, None
    elif xlo is False:
        xlo = None
    if xhi is True:
        xhi, hi = hi, None
    elif xhi is False:
        xhi = None
    if lo is not None and value < lo:
        yield ValidationError(pointer, f"must be >= {lo}")
    if hi is not None and value > hi:
        yield ValidationError(pointer, f"must be <= {hi}")
    if xlo is not None and value <= xlo:
        yield ValidationError(pointer, f"must be > {xlo}")
    if xhi is not None and value >= xhi:
        yield ValidationError(pointer, f"must be < {xhi}")
    m = schema.get("multipleOf")
    if m is not None:
        q = value / m
        if not (math.isfinite(q) and abs(q - round(q)) < 1e-9):
            yield ValidationError(pointer, f"must be a multiple of {m}")


def _array(value, schema, root, pointer, depth) -> Iterator[ValidationError]:
    n = len(value)
    if "minItems" in schema and n < schema["minItems"]:
        yield ValidationError(pointer, f"must have at least {schema['minItems']} items")
    if "maxItems" in schema and n > schema["maxItems"]:
        yield ValidationError(pointer, f"must have at most {schema['maxItems']} items")
    if schema.get("uniqueItems") is True:
        for i in range(n):
            for j in range(i):
                if _json_equal(value[i], value[j]):
                    yield ValidationError(f"{pointer}/{i}", f"duplicates item {j} (uniqueItems)")
                    break
    prefix = schema.get("prefixItems")
    items = schema.get("items")
    if isinstance(items, list):  # draft 7 tuple form
        prefix, items = items, schema.get("additionalItems")
    start = 0
    if isinstance(prefix, list):
        for i, sub in enumerate(prefix[:n]):
            yield from iter_errors(value[i], sub, root, f"{pointer}/{i}", depth)
        start = len(prefix)
    if items is not None:
        for i in range(start, n):
            yield from iter_errors(value[i], items, root, f"{pointer}/{i}", depth)
    if "contains" in schema:
        hits = sum(1 for v in value if _valid(v, schema["contains"], root, pointer, depth))
        lo = schema.get("minContains", 1)
        hi = schema.get("maxContains")
        if hits < lo:
            yield ValidationError(pointer, f"must contain at least {lo} matching item(s)")
        if hi is not None and hits > hi:
            yield ValidationError(pointer, f"must contain at most {hi} matching item(s)")


def _object(value, schema, root, pointer, depth) -> Iterator[ValidationError]:
    n = len(value)
    if "minProperties" in schema and n < schema["minProperties"]:
        yield ValidationError(pointer, f"must have at least {schema['minProperties']} properties")
    if "maxProperties" in schema and n > schema["maxProperties"]:
        yield ValidationError(pointer, f"must have at most {schema['maxProperties']} properties")
    for key in schema.get("required", ()):
        if key not in value:
            yield ValidationError(f"{pointer}/{pointer_escape(key)}", "is required")
    # dependentRequired / dependentSchemas (2019-09+) and their draft 7
    # spelling, "dependencies", which takes either form.
    deps = dict(schema.get("dependencies", {}))
    deps.update(schema.get("dependentRequired", {}))
    deps.update(schema.get("dependentSchemas", {}))
    for key, dep in deps.items():
        if key not in value:
            continue
        if isinstance(dep, list):
            for name in dep:
                if name not in value:
                    yield ValidationError(f"{pointer}/{pointer_escape(name)}",
                                          f"is required when {key!r} is present")
        else:
            yield from iter_errors(value, dep, root, pointer, depth)
    props = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    additional = schema.get("additionalProperties")
    names = schema.get("propertyNames")
    for key, child in value.items():
        where = f"{pointer}/{pointer_escape(key)}"
        if names is not None:
            for err in iter_errors(key, names, root, where, depth):
                yield ValidationError(where, f"property name {err.message}")
        matched = False
        if key in props:
            matched = True
            yield from iter_errors(child, props[key], root, where, depth)
        for pat, sub in patterns.items():
            if _regex(pat).search(key):
                matched = True
                yield from iter_errors(child, sub, root, where, depth)
        if not matched and additional is not None:
            if additional is False:
                yield ValidationError(where, "is not allowed (additionalProperties is false)")
            else:
                yield from iter_errors(child, additional, root, where, depth)


def _valid(instance, schema, root, pointer, depth) -> bool:
    for _ in iter_errors(instance, schema, root, pointer, depth):
        return False
    return True


def is_valid(instance: Any, schema: Any) -> bool:
    """True when ``instance`` matches ``schema``."""
    return _valid(instance, schema, schema, "", 0)


def validate(instance: Any, schema: Any) -> None:
    """Raise the first :class:`ValidationError`, or return None when valid."""
    for err in iter_errors(instance, schema):
        raise err


def apply_defaults(instance: Any, schema: Any, root: Any = None, depth: int = 0) -> Any:
    """Return a deep copy of ``instance`` with ``default`` values filled in.

    A property that is absent from an object gets its schema's ``default``.
    Defaults are followed through ``properties``, ``items``, ``allOf`` and
    ``$ref``; not through ``anyOf`` / ``oneOf``, where the branch is unknown.
    """
    if root is None:
        root = schema
        instance = copy.deepcopy(instance)
    if depth > _MAX_DEPTH or not isinstance(schema, dict):
        return instance
    if "$ref" in schema:
        try:
            instance = apply_defaults(instance, _resolve_ref(root, schema["$ref"]), root, depth + 1)
        except SchemaError:
            pass  # validation reports it
    for sub in schema.get("allOf", ()):
        instance = apply_defaults(instance, sub, root, depth + 1)
    if isinstance(instance, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            for key, sub in props.items():
                if key not in instance and isinstance(sub, dict) and "default" in sub:
                    instance[key] = copy.deepcopy(sub["default"])
                if key in instance:
                    instance[key] = apply_defaults(instance[key], sub, root, depth + 1)
    elif isinstance(instance, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(instance):
                instance[i] = apply_defaults(item, items, root, depth + 1)
    return instance
