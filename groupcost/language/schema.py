"""The JSON Schema of the spec language, generated from the layer registry (one source of truth).

Editors (yaml-language-server, VS Code's YAML extension) use it to validate and complete specs.
It checks structure — known keys, argument names, value shapes — not arithmetic: whether G
divides the channels, or which blocks a spec defines, only groupcost itself can tell.
"""

from __future__ import annotations

import json
from typing import Any

from groupcost.graph.analysis import RENAMED
from groupcost.language.budgets import LAYER_METRICS, METRICS
from groupcost.ops import ALIASES, LAYER_TYPES
from groupcost.ops import base as kinds
from groupcost.ops import detection, elementwise, opaque, resize, view
from groupcost.ops.pool import pool_padding
from groupcost.language.document import DTYPE_BYTES, MERGES, STRUCTURES, TOP_LEVEL_KEYS

EXPRESSION = {"type": "string", "description": "an arithmetic expression over variables, e.g. planes * 4"}
INTEGER = {"anyOf": [{"type": "integer"}, EXPRESSION]}
NUMBER = {"anyOf": [{"type": "number"}, EXPRESSION]}
CONDITION = {"anyOf": [{"type": "boolean"}, {"type": "integer"}, EXPRESSION]}
SIZES = {"anyOf": [{"type": "integer", "minimum": 1}, EXPRESSION, {"type": "array", "items": INTEGER, "minItems": 1, "maxItems": 3}]}
OFFSETS = {"anyOf": [{"type": "integer", "minimum": 0}, EXPRESSION, {"type": "array", "items": INTEGER, "minItems": 1, "maxItems": 3}]}
SCALES = {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, EXPRESSION, {"type": "array", "items": NUMBER, "minItems": 1, "maxItems": 3}]}
PADDING = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"enum": ["same", "valid"]},
        EXPRESSION,
        {"type": "array", "items": INTEGER, "minItems": 1, "maxItems": 4},
        {"type": "array", "items": INTEGER, "minItems": 6, "maxItems": 6},
    ]
}
KIND_SCHEMAS = {
    kinds.positive_int: {"anyOf": [{"type": "integer", "minimum": 1}, EXPRESSION]},
    kinds.non_negative_int: {"anyOf": [{"type": "integer", "minimum": 0}, EXPRESSION]},
    kinds.dimension: INTEGER,
    kinds.boolean: {"anyOf": [{"type": "boolean"}, {"enum": [0, 1]}, EXPRESSION]},
    kinds.probability: {"anyOf": [{"type": "number", "minimum": 0, "exclusiveMaximum": 1}, EXPRESSION]},
    kinds.real: NUMBER,
    resize.pad_value: NUMBER,  # YAML's -.inf and .inf are numbers too
    resize.channel_pads: {"anyOf": [{"type": "integer", "minimum": 0}, EXPRESSION, {"type": "array", "items": INTEGER, "minItems": 2, "maxItems": 2}]},
    kinds.positive_real: {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, EXPRESSION]},
    kinds.sizes: SIZES,
    kinds.offsets: OFFSETS,
    kinds.scales: SCALES,
    kinds.padding: PADDING,
    pool_padding: PADDING,
    opaque.word: {"type": "string", "pattern": r"^\S+$"},
    opaque.shape: {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
    elementwise.dims: {"type": "array", "items": {"type": "integer", "minimum": 1}},
    view.whole: INTEGER,
    view.optional_whole: {"anyOf": [{"type": "integer"}, {"type": "null"}, EXPRESSION]},
    view.whole_list: {"anyOf": [{"type": "array", "items": INTEGER, "minItems": 1}, EXPRESSION]},
    detection.grids: {"anyOf": [{"type": "array", "items": {"anyOf": [INTEGER, {"type": "array", "items": INTEGER, "minItems": 2, "maxItems": 2}]}, "minItems": 1}, EXPRESSION]},
    detection.level_strides: {"anyOf": [{"type": "array", "items": INTEGER, "minItems": 1}, EXPRESSION]},
}
AMOUNT = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^\s*[0-9][0-9_]*(\.[0-9]+)?\s*[A-Za-z]*\s*$"}]}
NAMES = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
SOURCES = {"anyOf": [{"type": ["string", "integer"]}, {"type": "array", "items": {"type": ["string", "integer"]}, "minItems": 1}]}
COMMON = {
    "name": {"type": ["string", "integer"], "description": "the layer's name segment; {expr} parts are computed"},
    "if": CONDITION,
    "from": {**SOURCES, "description": "the earlier output(s) this entry reads: a name (innermost namespace first; `/NAME`: at the top level), `input`, `in`, -1 (the entry before), an expression, or a list for merges"},
    "keep": {**CONDITION, "description": "when true, the output may go unread (an optional side output)"},
    "share": {"type": "string", "description": "an earlier layer or block whose modules (parameters) this entry's layers call again (`/NAME`: at the top level)"},
}
USE_SELECTION = {"type": "object", "additionalProperties": {"anyOf": [
    {"type": "string"}, {"type": "array", "items": {"type": "string"}},
    {"type": "object", "properties": {"blocks": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                                      "vars": {"type": "object"}}, "additionalProperties": False}]}}
VALUE = {"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}, {"type": "array"}], "description": "a number, a truth value, an expression, a word or a list"}


def _kind_name(kind) -> str:
    return kind.__name__


def _arg_schema(spec) -> dict:
    choices = getattr(spec.kind, "choices", None)
    schema: dict[str, Any] = {"enum": list(choices)} if choices else {"allOf": [{"$ref": f"#/definitions/{_kind_name(spec.kind)}"}]}
    if spec.doc:
        schema["description"] = spec.doc + ("" if spec.required else f" (default: {spec.default})")
    return schema


def _layer_args(layer_type, with_common: bool = True, require: bool = True) -> dict:
    properties = {}
    for spec in layer_type.arg_specs():
        properties[spec.name] = _arg_schema(spec)
        if spec.alias:
            properties[spec.alias] = _arg_schema(spec)
    required = [s.name for s in layer_type.arg_specs() if s.required] if require else []
    if with_common and "size" in properties:  # `to: NAME` gives the size of a named tensor
        properties["to"] = {"type": "string", "description": "take the spatial size of this earlier tensor (instead of size:)"}
    schema: dict[str, Any] = {"type": "object", "properties": {**properties, **(COMMON if with_common else {})}, "additionalProperties": False}
    if "to" in properties and "size" in required:
        schema["anyOf"] = [{"required": required}, {"required": [r for r in required if r != "size"] + ["to"]}]
    elif required:
        schema["required"] = required
    else:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def _one_key(key: str, value: dict, description: str = "") -> dict:
    schema = {"type": "object", "properties": {key: value}, "required": [key], "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


def spec_schema() -> dict:
    layers_ref = {"$ref": "#/definitions/layers"}
    branch = {"anyOf": [layers_ref, {"type": "object", "properties": {"name": COMMON["name"], "layers": layers_ref}, "required": ["layers"], "additionalProperties": False}]}
    structures = {
        "seq": {"layers": layers_ref},
        "repeat": {"n": INTEGER, "var": {"type": "string"}, "layers": layers_ref,
                   "namespace": {"type": "boolean", "description": "false: the body in the enclosing namespace, no number per repetition"}},
        "residual": {"body": layers_ref, "shortcut": branch, "merge": {"enum": list(MERGES)}, "when": CONDITION},
        "parallel": {"branches": {"type": "array", "items": branch, "minItems": 2}, "merge": {"enum": list(MERGES)},
                     "split": {"anyOf": [INTEGER, {"type": "array", "items": INTEGER}]},
                     "n": {**INTEGER, "description": "with branch: make n branches from one"}, "var": {"type": "string"}, "branch": branch},
    }
    required = {"seq": ["layers"], "repeat": ["n", "layers"], "residual": ["body"], "parallel": []}
    assert set(structures) == set(STRUCTURES)
    entries: list[dict] = [{"type": "string", "description": "a layer type without arguments, or a block's name"}]
    for name, layer_type in LAYER_TYPES.items():
        doc = (layer_type.__doc__ or "").strip().splitlines()[0] if layer_type.__doc__ else ""
        entries.append(_one_key(name, _layer_args(layer_type), doc + (f" (alias of {ALIASES[name]})" if name in ALIASES else "")))
    for name, keys in structures.items():
        entries.append(_one_key(name, {"type": "object", "properties": {**keys, **COMMON}, "required": required[name], "additionalProperties": False,
                                       **({"oneOf": [{"required": ["branches"]}, {"required": ["n", "branch"]}]} if name == "parallel" else {})}))
    for merge in MERGES:
        entries.append(_one_key(merge, {"type": "object", "properties": COMMON, "required": ["from"], "additionalProperties": False}, f"{merge} the tensors named in from:"))
    known = sorted([*LAYER_TYPES, *structures, *MERGES])
    entries.append({
        "description": "a block (template) defined under blocks:, with its arguments",
        "type": "object", "minProperties": 1, "maxProperties": 1,
        "propertyNames": {"not": {"enum": known}},
        "additionalProperties": {"type": ["object", "null"]},
    })
    legacy = {old: {**AMOUNT, "description": f"groupcost 0.1's name of {new}"} for old, new in RENAMED.items()}
    budget_values = {**{m: AMOUNT for m in METRICS}, **legacy}
    layer_values = {**{m: AMOUNT for m in LAYER_METRICS}, **{k: v for k, v in legacy.items() if RENAMED[k] in LAYER_METRICS}}
    properties = {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "extends": {"type": "string", "description": "a spec (path relative to this one, or a zoo name) that this one overrides"},
        "use": {"anyOf": [{"type": "string"}, USE_SELECTION, {"type": "array", "items": {"anyOf": [{"type": "string"}, USE_SELECTION]}, "minItems": 1}],
                "description": "spec files (or zoo names) whose blocks this spec uses: all of them, or {file: [block, ...]}, or {file: {blocks: [...], vars: {...}}}"},
        "input": {"type": "array", "items": KIND_SCHEMAS[kinds.positive_int], "minItems": 1, "maxItems": 4, "description": "[C, H, W], [C, L], [C, T, H, W] or [F]"},
        "batch": INTEGER,
        "dtype": {"enum": list(DTYPE_BYTES)},
        "vars": {"type": ["object", "null"], "additionalProperties": VALUE, "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
        "defaults": {"type": ["object", "null"], "properties": {n: _layer_args(t, with_common=False, require=False) for n, t in LAYER_TYPES.items()}, "additionalProperties": False},
        "blocks": {
            "type": ["object", "null"],
            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            "additionalProperties": {
                "type": "object",
                "properties": {"args": {"type": ["object", "null"], "additionalProperties": {"anyOf": [VALUE, {"type": "null"}]}}, "layers": layers_ref},
                "required": ["layers"],
                "additionalProperties": False,
            },
        },
        "layers": layers_ref,
        "outputs": {"anyOf": [*NAMES["anyOf"], {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1}],
                    "description": "the network's outputs by name (default: the last layer's); a mapping {key: name} returns a dict, as "
                                   "torchvision's segmentation models ({out: ..., aux: ...}) and FPN ({'0': ..., pool: ...})"},
        "budgets": {
            "type": ["object", "null"],
            "properties": {**budget_values, "layers": {"type": "object", "additionalProperties": {"type": "object", "properties": layer_values, "additionalProperties": False}}},
            "additionalProperties": False,
        },
    }
    assert set(properties) == set(TOP_LEVEL_KEYS)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "groupcost spec",
        "description": "A convolutional network for groupcost: input, variables, blocks, layers and budgets.",
        "type": "object",
        "anyOf": [{"required": ["input", "layers"]}, {"required": ["extends"]}],
        "additionalProperties": False,
        "properties": properties,
        "definitions": {
            "layers": {"type": ["array", "null"], "items": {"$ref": "#/definitions/entry"}},
            "entry": {"anyOf": entries},
            **{_kind_name(kind): schema for kind, schema in KIND_SCHEMAS.items()},
        },
    }


def spec_schema_json() -> str:
    return json.dumps(spec_schema(), indent=2, ensure_ascii=False) + "\n"
