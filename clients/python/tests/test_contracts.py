"""The SDK's declarations against core's zod schemas, the one source of the contracts.

The schemas are read as JSON Schema from ``packages/core/dist/contracts`` (``z.toJSONSchema``), so a
field added, removed or retyped in core fails here until the Python SDK follows.
"""

import dataclasses
import inspect
import json
import subprocess
from typing import Any, Optional, Union, get_args, get_origin, get_type_hints

import pytest

from sluice import Job, OperationResponse, OperationRow, OutputPage
from sluice._models import JOB_STATUSES, TERMINAL_STATUSES
from sluice.resources import completions
from sluice.resources.batches import JobOperation

from .conftest import ROOT

SCRIPT = """
import * as contracts from '{root}/packages/core/dist/contracts/index.js';
import {{ createRequire }} from 'node:module';
const zod = await import(createRequire('{root}/packages/core/package.json').resolve('zod'));
const z = zod.z ?? zod;
const schema = (name, io) => z.toJSONSchema(contracts[name], {{ io, unrepresentable: 'any' }});
const out = {{ jobOperations: contracts.JOB_OPERATIONS, terminal: contracts.TERMINAL_STATUSES }};
for (const name of ['Job', 'OutputPage', 'OperationResponse', 'OperationRow']) out[name] = schema(name, 'output');
for (const name of ['ClassifyParams', 'ExtractParams', 'SummarizeParams', 'EnrichParams', 'RunParams'])
  out[name] = schema(name, 'input');
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def core() -> dict[str, Any]:
    script = SCRIPT.format(root=ROOT.as_posix())
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"reading core's contracts failed (is it built? pnpm build):\n{done.stderr}"
    schemas: dict[str, Any] = json.loads(done.stdout)
    return schemas


def python_matches(schema: dict[str, Any], hint: Any) -> bool:
    """Whether a Python annotation accepts what a JSON Schema describes (as far as the SDK checks)."""
    options = schema.get("anyOf")
    types: list[str] = []
    if options is not None:
        types = [option.get("type", "any") for option in options]
    elif isinstance(schema.get("type"), list):
        types = schema["type"]
    elif "type" in schema:
        types = [schema["type"]]
    nullable = "null" in types
    types = [kind for kind in types if kind != "null"]
    if get_origin(hint) is Union:
        args = get_args(hint)
        if nullable != (type(None) in args):
            return False
        hint = next(arg for arg in args if arg is not type(None))
    elif nullable:
        return hint is Any
    if hint is Any or not types:
        return True
    (kind,) = types
    origin = get_origin(hint) or hint
    expected = {"string": (str,), "integer": (int,), "number": (float,), "boolean": (bool,), "array": (list,)}
    if kind == "object":
        return origin in (dict, dict) or (isinstance(hint, type) and issubclass(hint, dict))
    return origin in expected.get(kind, ())


@pytest.mark.parametrize("model", [Job, OutputPage, OperationResponse])
def test_each_model_declares_the_fields_of_its_schema(core: dict[str, Any], model: type) -> None:
    schema = core[model.__name__]
    hints = get_type_hints(model)
    declared = {field.name for field in dataclasses.fields(model)} - {"raw"}
    assert declared == set(schema["properties"]), f"{model.__name__} differs from core's schema"
    assert set(schema["required"]) <= declared
    for name in declared:
        assert python_matches(schema["properties"][name], hints[name]), f"{model.__name__}.{name}"


def test_a_result_row_has_the_schema_keys(core: dict[str, Any]) -> None:
    schema = core["OperationRow"]
    hints = get_type_hints(OperationRow)
    assert set(hints) == set(schema["properties"])
    for name, hint in hints.items():
        assert python_matches(schema["properties"][name], hint), f"OperationRow.{name}"


@pytest.mark.parametrize("operation", ["classify", "extract", "summarize", "enrich", "run"])
def test_each_operation_takes_the_parameters_of_its_schema(core: dict[str, Any], operation: str) -> None:
    schema = core[f"{operation.capitalize()}Params"]
    signature = inspect.signature(getattr(completions, operation))
    names = set(signature.parameters) - {"items"}
    assert names == set(schema["properties"]), f"completions.{operation} differs from core's schema"
    for name in schema.get("required", []):
        assert signature.parameters[name].default is inspect.Parameter.empty, f"{operation}: {name} is required"
    for name, parameter in signature.parameters.items():
        if name not in schema.get("required", []) and name != "items":
            assert parameter.default is None, f"{operation}: {name} is optional"


def test_job_operations_and_terminal_statuses_match(core: dict[str, Any]) -> None:
    assert set(get_args(JobOperation)) == set(core["jobOperations"])
    assert set(core["terminal"]) == TERMINAL_STATUSES
    assert set(core["Job"]["properties"]["status"]["enum"]) >= TERMINAL_STATUSES
    assert list(core["Job"]["properties"]["status"]["enum"]) == list(JOB_STATUSES)


def test_the_checker_can_fail() -> None:
    assert not python_matches({"type": "string"}, int)
    assert not python_matches({"type": ["string", "null"]}, str)
    assert not python_matches({"anyOf": [{"type": "integer"}, {"type": "null"}]}, Optional[str])
    assert python_matches({"anyOf": [{"type": "integer"}, {"type": "null"}]}, Optional[int])
