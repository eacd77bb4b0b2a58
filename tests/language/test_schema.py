"""The JSON Schema: valid for draft 7, accepts every zoo and valid spec, rejects the malformed specs
it can express, and the committed copy editors use is the one `groupcost schema` prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from groupcost.language.schema import spec_schema_json

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).parents[2]
SCHEMA = json.loads(spec_schema_json())
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
ZOO = sorted((ROOT / "specs").glob("*.yaml"))
VALID = sorted((ROOT / "tests" / "valid").glob("*.yaml"))
# The invalid specs whose mistake is structural (keys, names, value shapes), not arithmetic:
EXPRESSIBLE = [
    "alias_bomb", "bad_dtype", "empty", "missing_argument", "missing_input", "negative_input", "negative_padding",
    "not_a_mapping", "two_keys_entry", "unknown_activation", "unknown_argument", "unknown_top_level",
    "wrong_type_args", "wrong_type_channels", "zero_channels",
]


def test_schema_is_valid_draft7():
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_committed_schema_is_current(cli):
    result = cli("schema")
    assert result.exit_code == 0
    assert (ROOT / "docs" / "spec.schema.json").read_text(encoding="utf-8") == result.stdout


@pytest.mark.parametrize("path", ZOO + VALID, ids=[p.stem for p in ZOO + VALID])
def test_accepts(path):
    errors = list(VALIDATOR.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
    assert not errors, errors[0].message


@pytest.mark.parametrize("path", ZOO, ids=[p.stem for p in ZOO])
def test_zoo_specs_name_the_schema(path):
    assert path.read_text(encoding="utf-8").splitlines()[0] == "# yaml-language-server: $schema=../docs/spec.schema.json"


@pytest.mark.parametrize("name", EXPRESSIBLE)
def test_rejects(name):
    data = yaml.safe_load((ROOT / "tests" / "bad_specs" / f"{name}.yaml").read_text(encoding="utf-8"))
    assert list(VALIDATOR.iter_errors(data)), f"{name} passed the schema"


def test_budgets_in_the_schema():
    ok = {"input": [3, 8, 8], "layers": ["relu"], "budgets": {"params": "5M", "activation_bytes": "64MiB", "layers": {"fc*": {"macs": 1000}}}}
    assert not list(VALIDATOR.iter_errors(ok))
    for bad in ({"parms": "5M"}, {"params": "five"}, {"layers": {"fc": {"peak_activation_bytes": 1}}}):
        assert list(VALIDATOR.iter_errors({**ok, "budgets": bad})), bad
