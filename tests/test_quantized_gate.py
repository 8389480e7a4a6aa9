"""The one INT8 gate of every export: quantized graphs kept within the drop, deleted beyond it."""

from __future__ import annotations

import pytest

from attnops.pipelines.export import _quantized_gate
from attnops.pipelines.inference.graphs import graph_specs
from attnops.pipelines.task import Graphs


@pytest.mark.parametrize(("drop", "kept"), [(0.0, True), (0.5, True), (0.51, False), (-1.0, True)])
def test_int8_graphs_are_kept_only_within_the_gate(tmp_path, drop, kept):
    graphs = Graphs()
    specs = graph_specs(graphs.state_fields)
    files = [tmp_path / spec.file(p) for spec in (specs.encoder, specs.decoder) for p in ("fp32", "int8")]
    for path in files:
        path.write_bytes(b"graph")
    precisions = _quantized_gate(tmp_path, graphs, "int8", {"int8_drop": drop}, max_drop=0.5)
    assert precisions == (("fp32", "int8") if kept else ("fp32",))
    assert [path.exists() for path in files] == [True, kept, True, kept]
