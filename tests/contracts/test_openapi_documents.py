"""Each service's OpenAPI document, as a generated client reads it: valid by the OpenAPI
reference validator (openapi-spec-validator, from PyPI), each operation id used once and named
after its route function (`get_score`), not FastAPI's path-derived default
(`get_score_v1_subjects__subject_id__score_get`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from openapi_spec_validator import validate

from linli.services import SERVICES


def _operations(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (operation["operationId"], path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_openapi_document_is_valid_with_short_operation_ids(service: str) -> None:
    document = SERVICES[service].create_app().openapi()
    validate(document)  # refuses, among the rest, an operation id used twice
    for operation_id, path, method in _operations(document):
        assert operation_id.isidentifier() and operation_id.islower(), operation_id
        assert not operation_id.endswith(f"_{method}"), f"{method} {path}: {operation_id}"
        assert "__" not in operation_id and "_v1_" not in operation_id, operation_id


def test_the_validator_refuses_an_operation_id_used_twice() -> None:
    document = SERVICES["credit"].create_app().openapi()
    twice = copy.deepcopy(document)
    (first_id, _, _), (_, path, method) = _operations(twice)[:2]
    twice["paths"][path][method]["operationId"] = first_id
    with pytest.raises(Exception, match="not unique"):
        validate(twice)
