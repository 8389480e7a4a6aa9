"""Request schemas cap every string and list, so no deployment tokenises or splits more than it could serve."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from attnops.serving.schemas import (
    MAX_DOCUMENT_CHARS,
    MAX_ITEMS,
    MAX_SENTENCE_CHARS,
    ClassifyRequest,
    SummarizeRequest,
    TranslateRequest,
)

S, D = "a" * MAX_SENTENCE_CHARS, "a" * MAX_DOCUMENT_CHARS


@pytest.mark.parametrize(
    "schema, accepted, refused",
    [
        (TranslateRequest, {"text": S}, {"text": S + "a"}),
        (TranslateRequest, {"texts": [S]}, {"texts": [S + "a"]}),
        (TranslateRequest, {"texts": ["a"] * MAX_ITEMS}, {"texts": ["a"] * (MAX_ITEMS + 1)}),
        (ClassifyRequest, {"text": D}, {"text": D + "a"}),
        (ClassifyRequest, {"texts": ["a"] * MAX_ITEMS}, {"texts": ["a"] * (MAX_ITEMS + 1)}),
        (SummarizeRequest, {"text": D}, {"text": D + "a"}),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_oversized_fields_are_refused_by_the_schema_and_the_limit_itself_is_accepted(schema, accepted, refused):
    assert schema.model_validate(accepted)
    with pytest.raises(ValidationError, match="at most"):
        schema.model_validate(refused)


def test_the_caps_are_in_the_published_schema():
    translate = TranslateRequest.model_json_schema()["properties"]
    assert translate["text"]["anyOf"][0]["maxLength"] == MAX_SENTENCE_CHARS
    assert translate["texts"]["anyOf"][0]["maxItems"] == MAX_ITEMS
    assert SummarizeRequest.model_json_schema()["properties"]["text"]["maxLength"] == MAX_DOCUMENT_CHARS
