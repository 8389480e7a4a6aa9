"""Request schemas cap every string and list, so no deployment tokenises or splits more than it could serve."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.schemas import (
    MAX_DOCUMENT_CHARS,
    MAX_ITEMS,
    MAX_SENTENCE_CHARS,
    ClassifyRequest,
    SummarizeRequest,
    TranslateRequest,
)


@pytest.mark.parametrize(
    "schema, field, item, count",
    [
        (TranslateRequest, "text", MAX_SENTENCE_CHARS, None),
        (TranslateRequest, "texts", MAX_SENTENCE_CHARS, 1),
        (TranslateRequest, "texts", 1, MAX_ITEMS),
        (ClassifyRequest, "text", MAX_DOCUMENT_CHARS, None),
        (ClassifyRequest, "texts", 1, MAX_ITEMS),
        (SummarizeRequest, "text", MAX_DOCUMENT_CHARS, None),
    ],
)
def test_oversized_fields_are_refused_by_the_schema_and_the_limit_itself_is_accepted(schema, field, item, count):
    def body(chars: int, items: int | None) -> dict:
        return {field: "a" * chars if items is None else ["a" * chars] * items}

    assert schema.model_validate(body(item, count))
    for over in (body(item + 1, count), body(item, count + 1) if count else None):
        if over is not None:
            with pytest.raises(ValidationError, match="at most"):
                schema.model_validate(over)


def test_the_caps_are_in_the_published_schema():
    translate = TranslateRequest.model_json_schema()["properties"]
    assert translate["text"]["anyOf"][0]["maxLength"] == MAX_SENTENCE_CHARS
    assert translate["texts"]["anyOf"][0]["maxItems"] == MAX_ITEMS
    assert SummarizeRequest.model_json_schema()["properties"]["text"]["maxLength"] == MAX_DOCUMENT_CHARS
