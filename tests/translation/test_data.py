"""Data loading, tokenization and batching on the real Multi30k copy."""

from __future__ import annotations

import gzip

import pytest

from attnops.pipelines.batching import BucketBatchSampler, bucket_loader
from attnops.pipelines.errors import UserError
from attnops.pipelines.translation.batching import collate, sentence_pairs
from attnops.pipelines.translation.config import SPLITS, DataConfig
from attnops.pipelines.translation.data import load_corpus


def test_all_splits_load_aligned(multi30k):
    assert set(multi30k) == set(SPLITS)
    assert len(multi30k["train"]) == 2000
    assert all(len(split) == 50 for name, split in multi30k.items() if name != "train")
    first = multi30k["train"]
    assert first.sources[0].startswith("Zwei junge weiße Männer")  # De → En by default
    assert first.targets[0].startswith("Two young, White males")


def test_direction_is_configurable():
    corpus = load_corpus(DataConfig(source_lang="en", target_lang="de", max_train_examples=3, max_eval_examples=3))
    assert corpus["train"].sources[0].startswith("Two young")


def test_missing_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="data folder not found"):
        load_corpus(DataConfig(root=str(tmp_path)))


def test_data_dir_environment_variable_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNOPS_DATA_DIR", str(tmp_path))
    with pytest.raises(UserError, match=str(tmp_path)):
        load_corpus(DataConfig())


def test_empty_training_split_is_rejected(tmp_path):
    raw = tmp_path / "multi30k" / "raw"
    raw.mkdir(parents=True)
    for split in SPLITS:
        for lang in ("de", "en"):
            with gzip.open(raw / f"{split}.{lang}.gz", "wt") as handle:
                handle.write("" if split == "train" else "ein Satz\n")
    with pytest.raises(UserError, match="training split .* is empty"):
        load_corpus(DataConfig(root=str(tmp_path)))


def test_tokenizer_detokenizes_exactly(codec, multi30k):
    targets = multi30k["test_2016_flickr"].targets
    assert codec.decode_target(codec.encode_target(targets)) == targets


def test_joint_tokenizer_trains_on_both_sides_of_the_loaded_corpus(multi30k):
    from attnops.pipelines.translation.config import TokenizerConfig
    from attnops.pipelines.translation.tokenizer import TextCodec

    train = multi30k["train"]
    codec = TextCodec.train(train.sources, train.targets, TokenizerConfig(joint=True, vocab_size=500))
    assert codec.source is codec.target
    assert codec.decode_target(codec.encode_source(train.sources[:20])) == list(train.sources[:20])
    assert codec.decode_target(codec.encode_target(train.targets[:20])) == list(train.targets[:20])


def test_tokenizer_saves_and_loads(codec, multi30k, tmp_path):
    from attnops.pipelines.translation.tokenizer import TextCodec

    loaded = TextCodec.load(codec.save(tmp_path / "tok"))
    sentences = multi30k["val"].sources
    assert loaded.encode_source(sentences) == codec.encode_source(sentences)


def test_bucketing_covers_every_example_once_and_cuts_padding(codec, multi30k):
    sources = codec.encode_source(multi30k["train"].sources)
    lengths = [len(s) for s in sources]
    sampler = BucketBatchSampler(lengths, batch_size=32, shuffle=True, seed=1)
    batches = list(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert list(sampler) != batches  # reshuffled each epoch

    def padding(batch_list):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batch_list)

    unbucketed = [list(range(i, min(i + 32, len(lengths)))) for i in range(0, len(lengths), 32)]
    assert padding(batches) < 0.3 * padding(unbucketed)


def test_collate_builds_shifted_targets(codec, multi30k):
    split = multi30k["val"]
    sources, targets = split.sources[:4], split.targets[:4]
    items = list(sentence_pairs(codec.encode_source(sources), codec.encode_target(targets), targets))
    batch = collate(codec.special)(items)
    assert (batch.tgt_in[:, 0] == codec.special.bos).all()
    assert (batch.tgt_in[:, 1:] == batch.tgt_out[:, :-1]).logical_or(batch.tgt_out[:, :-1] == codec.special.eos).all()
    for row, target in enumerate(items):
        assert batch.tgt_out[row, len(target[1])] == codec.special.eos
    assert batch.src_mask.sum(1).tolist() == [len(s) for s, _, _ in items]


@pytest.mark.subprocess
def test_loader_batches_the_same_in_spawned_worker_processes(codec, multi30k):
    split = multi30k["val"]
    pairs = sentence_pairs(codec.encode_source(split.sources), codec.encode_target(split.targets), split.targets)
    here = list(bucket_loader(pairs, 8, False, collate(codec.special)))
    workers = list(bucket_loader(pairs, 8, False, collate(codec.special), num_workers=2))  # each unpickles the collate
    assert len(workers) == len(here) == -(-len(pairs) // 8)
    for ours, theirs in zip(here, workers):
        assert ours.src.equal(theirs.src) and ours.tgt_out.equal(theirs.tgt_out)
        assert ours.references == theirs.references
