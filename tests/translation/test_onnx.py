"""ONNX export and the ONNX Runtime backend against the PyTorch model (real sessions, real sentences)."""

from __future__ import annotations

import onnx
import pytest
import torch

from attnops.models.search import SearchSettings, beam_search, greedy_search
from attnops.models.seq2seq import Seq2Seq
from attnops.pipelines.batching import pad_sources
from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.onnx_runtime import OnnxBackend, run_bound
from attnops.pipelines.onnx_export import dummy_source, export_graphs, quantize_graphs
from attnops.pipelines.translation.alignment import text_grid
from attnops.pipelines.translation.parity import FRESH_SHAPES, check_parity
from tests.conftest import tiny_model_config

VARIANTS = [
    {"attention": "additive", "decoder": "bahdanau"},
    {"attention": "general", "decoder": "luong"},
    {"attention": "multihead", "decoder": "bahdanau", "rnn_type": "lstm"},
    {"attention": "multihead", "decoder": "bahdanau", "rnn_type": "gru"},
    {"attention": "scaled_dot", "decoder": "luong", "self_attention": "multihead"},
]
IDS = ["-".join(v.values()) for v in VARIANTS]
CPU = RuntimeConfig(intra_op_threads=1, device="cpu")
DUMMY_SHAPE = (2, 7)


@pytest.fixture(scope="module", params=VARIANTS, ids=IDS)
def exported(request, codec, tmp_path_factory) -> tuple[Seq2Seq, OnnxBackend]:
    torch.manual_seed(0)
    config = tiny_model_config(**request.param)
    model = Seq2Seq(config, codec.source.get_vocab_size(), codec.target.get_vocab_size(), codec.special).eval()
    folder = tmp_path_factory.mktemp("onnx")
    specs = export_graphs(model, folder, opset=18)
    return model, OnnxBackend(folder, specs, CPU)


def _settings(codec, beam_size: int) -> SearchSettings:
    special = codec.special
    return SearchSettings(special.bos, special.eos, special.pad, beam_size=beam_size, max_length=25)


def _sources(codec, multi30k, n: int):
    return pad_sources(codec.encode_source(multi30k["test_2016_flickr"].sources[:n]), codec.special)


def test_graphs_are_self_contained_and_declare_dynamic_axes(exported):
    _, backend = exported
    for spec in (backend.specs.encoder, backend.specs.decoder):
        graph = onnx.load(backend.folder / spec.file())
        assert graph.opset_import[0].version >= 17
        assert not any(init.data_location == onnx.TensorProto.EXTERNAL for init in graph.graph.initializer)
        batch_dims = [i.type.tensor_type.shape.dim[0].dim_param for i in graph.graph.input]
        assert set(batch_dims) == {"batch"}


def test_step_outputs_match_on_shapes_other_than_the_export_dummy(exported, codec):
    model, backend = exported
    assert DUMMY_SHAPE not in FRESH_SHAPES and any(batch == 1 for batch, _ in FRESH_SHAPES)
    parity = check_parity(model, backend, codec, ["Ein Hund läuft."], _settings(codec, 1), tolerance=1e-4)
    assert parity.max_abs_logits <= 1e-4 and parity.max_abs_attention <= 1e-5
    assert parity.passed


def test_io_binding_gives_the_same_step_as_a_plain_run(exported):
    """The GPU's zero-copy path (DLPack-bound inputs and outputs), run here on the CPU."""
    model, backend = exported
    src, mask = dummy_source(3, 9, model.encoder.embedding.num_embeddings, seed=3)
    state = backend.encode(src, mask)
    tokens = torch.full((3,), model.special.bos)
    feeds = {"tokens": tokens, **{name: getattr(state, name) for name in backend.specs.state_fields}}
    bound = run_bound(backend.decoder, feeds, "cpu")
    plain = backend.decoder.run(None, {name: tensor.numpy() for name, tensor in feeds.items()})
    assert len(bound) == len(plain) == len(backend.specs.decoder.outputs)
    for got, expected in zip(bound, plain):
        assert torch.equal(got, torch.from_numpy(expected))


def test_padded_source_positions_get_exactly_zero_weight_in_onnx_runtime(exported):
    model, backend = exported
    src, mask = dummy_source(4, 13, model.encoder.embedding.num_embeddings, seed=7)
    tokens = torch.full((4,), model.special.bos)
    weights = backend.decode_step(tokens, backend.encode(src, mask)).attention
    assert (weights[~mask] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(4))


@pytest.mark.parametrize("search", [greedy_search, beam_search], ids=["greedy", "beam"])
def test_same_search_gives_identical_results_on_both_backends(exported, codec, multi30k, search):
    model, backend = exported
    src, mask = _sources(codec, multi30k, 12)
    settings = _settings(codec, beam_size=1 if search is greedy_search else 3)
    expected, actual = search(model, src, mask, settings), search(backend, src, mask, settings)
    assert [h.tokens for h in actual] == [h.tokens for h in expected]
    for e, a in zip(expected, actual):
        assert a.score == pytest.approx(e.score, abs=1e-4)
        torch.testing.assert_close(a.attention, e.attention, atol=1e-5, rtol=1e-4)


def test_int8_graphs_are_smaller_and_decode(exported, codec, multi30k):
    _, backend = exported
    folder = backend.folder
    quantize_graphs(backend.specs, folder)
    int8 = OnnxBackend(folder, backend.specs, CPU.model_copy(update={"precision": "int8"}))
    assert (folder / "decoder_step.int8.onnx").stat().st_size < (folder / "decoder_step.onnx").stat().st_size
    src, mask = _sources(codec, multi30k, 4)
    hypotheses = greedy_search(int8, src, mask, _settings(codec, 1))
    assert len(hypotheses) == 4 and all(h.attention.shape[1] == int(m.sum()) for h, m in zip(hypotheses, mask))


def test_missing_precision_is_a_clear_error(exported, tmp_path):
    _, backend = exported
    with pytest.raises(UserError, match="missing ONNX graph encoder.int8.onnx"):
        OnnxBackend(tmp_path, backend.specs, CPU.model_copy(update={"precision": "int8"}))


def test_text_grid_marks_the_strongest_alignment():
    weights = torch.tensor([[0.9, 0.1], [0.05, 0.95]])
    header, first, second = text_grid(weights, ["ein", "Hund"], ["a", "dog"]).splitlines()
    hund_column = header.index("Hund")
    assert header.index("ein") <= first.index("█") < hund_column
    assert hund_column <= second.index("█") < hund_column + len("Hund")
    assert first.startswith("  a |") and second.startswith("dog |")
