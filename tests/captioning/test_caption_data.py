"""Caption data, tokenizer, batching, metrics and attention figures on the real flickr8k_mini copy."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from attnops.pipelines.captioning.batching import caption_dataset, collate_captions
from attnops.pipelines.captioning.captions import CaptionCodec, CaptionSplit, load_captions, normalize_caption
from attnops.pipelines.captioning.figures import plot_caption_attention, upsample_attention
from attnops.pipelines.captioning.image_features import load_images
from attnops.pipelines.captioning.metrics import bleu_scores, caption_scores, cider_d
from attnops.pipelines.errors import UserError
from attnops.pipelines.translation.config import DataConfig

FLICKR = DataConfig().data_root() / "flickr8k_mini"


@pytest.fixture(scope="module")
def splits() -> dict[str, CaptionSplit]:
    return load_captions(FLICKR)


def test_official_split_sizes_with_five_normalized_captions(splits):
    assert {name: len(data) for name, data in splits.items()} == {"train": 1500, "val": 250, "test": 250}
    for data in splits.values():
        assert all(len(refs) == 5 for refs in data.captions)
    assert not set(splits["train"].images) & set(splits["test"].images)
    assert normalize_caption("A black dog is running , in the Grass .") == "a black dog is running in the grass"


def test_missing_caption_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="caption file not found"):
        load_captions(tmp_path)


def test_codec_round_trip_and_rare_words(splits, tmp_path):
    captions = [c for refs in splits["train"].captions for c in refs]
    codec = CaptionCodec.train(captions, min_frequency=5)
    assert 500 < codec.vocab_size < 3000
    ids = codec.encode(["a dog runs through the grass", "a zzyzx dog"])
    assert codec.decode(ids)[0] == "a dog runs through the grass"
    assert ids[1][1] == codec.special.unk
    reloaded = CaptionCodec.load(codec.save(tmp_path / "tokenizer"))
    assert reloaded.encode(["a dog"]) == codec.encode(["a dog"])


def test_training_set_pairs_every_caption_and_evaluation_the_first(splits):
    data = splits["val"].head(4)
    captions = [c for refs in data.captions for c in refs]
    codec = CaptionCodec.train(captions, min_frequency=1)
    grids = torch.randn(4, 25, 8)
    train = caption_dataset([grids], codec.encode(captions), data.captions, every_caption=True)
    evaluation = caption_dataset([grids], codec.encode(captions), data.captions, every_caption=False)
    assert len(train) == 20 and len(evaluation) == 4
    batch = collate_captions([evaluation[i] for i in range(4)], codec.special)
    assert batch.src.shape == (4, 25, 8) and batch.src_mask.all()
    assert (batch.tgt_in[:, 0] == codec.special.bos).all()
    assert codec.decode(batch.tgt_out[:1].tolist())[0] == data.captions[0][0]
    assert batch.references == data.captions


def test_metrics_rank_human_captions_above_captions_of_other_photos(splits):
    test = splits["test"]
    held_out = [refs[0] for refs in test.captions]
    others = [refs[1:] for refs in test.captions]
    human = caption_scores(held_out, others)
    shuffled = caption_scores(held_out[1:] + held_out[:1], others)
    for name in ("bleu1", "bleu2", "bleu3", "bleu4", "cider"):
        assert human[name] > 2 * shuffled[name]
    assert 0.5 < human["cider"] < 1.2  # one annotator against the other four


def test_exact_captions_score_full_bleu_and_cider_rewards_photo_specific_words():
    references = [["a dog runs on the grass", "a brown dog runs"], ["two people sit on a bench", "people on a bench"]]
    assert bleu_scores([refs[0] for refs in references], references)["bleu4"] == pytest.approx(100.0)
    specific = cider_d(["a brown dog runs", "people on a bench"], references)
    generic = cider_d(["a on the", "a on the"], references)
    assert specific > 5 * generic


def test_attention_figure_for_a_real_photo(splits, tmp_path):
    photo = load_images([FLICKR / "images" / splits["test"].images[0]])[0]  # (3, 160, 160)
    weights = torch.softmax(torch.randn(3, 25), dim=-1)
    maps = upsample_attention(weights, 160, 160)
    assert maps.shape == (3, 160, 160) and torch.allclose(maps.flatten(1).amax(1), torch.ones(3))
    assert torch.allclose(maps.flatten(1).amin(1), torch.zeros(3))
    path = plot_caption_attention(photo, ["a", "dog", "</s>"], weights, tmp_path / "a.png", title="a dog")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 400
    with pytest.raises(ValueError, match="square grid"):
        upsample_attention(torch.ones(1, 24) / 24, 160, 160)
