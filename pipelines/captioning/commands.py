"""``attnops caption``: photos through an exported captioner in ONNX Runtime."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attnops.pipelines.command_args import MODEL_URI_HELP, beam_size, bundle_for
from attnops.pipelines.errors import UserError


def _caption(args: argparse.Namespace) -> None:
    import torch

    from attnops.pipelines.captioning.decode import caption_photos
    from attnops.pipelines.captioning.figures import plot_caption_attention
    from attnops.pipelines.captioning.image_input import ImageRejected, open_image, photo_tensor
    from attnops.pipelines.inference.decoding import search_settings

    if not args.images:
        raise UserError("give at least one image file to caption")
    bundle = bundle_for(args.model, "captioning")
    photos = []
    for name in args.images:
        path = Path(name)
        if not path.is_file():
            raise UserError(f"image file not found: {path}")
        try:
            photos.append(photo_tensor(open_image(path.read_bytes()), bundle.manifest.image_size))
        except ImageRejected as exc:
            raise UserError(f"{path}: {exc.message}") from exc
    sessions = bundle.backend()
    batch = torch.stack(photos)  # (N, 3, H, W)
    settings = search_settings(bundle.config, bundle.codec, args.beam_size)
    captions = caption_photos(sessions.image_encoder, sessions.decoder, bundle.codec, batch, settings)
    for name, photo, caption in zip(args.images, batch, captions):
        print(f"{name}\t{caption.text}" if len(args.images) > 1 else caption.text)
        if args.figures:
            figure = Path(args.figures) / f"{Path(name).stem}.attention.png"
            plot_caption_attention(photo, caption.words, caption.attention, figure, title=caption.text)
            print(f"attention: {figure}", file=sys.stderr)


def add_commands(commands: argparse._SubParsersAction) -> None:
    caption = commands.add_parser(
        "caption",
        help="caption photos locally with an exported captioner (ONNX Runtime)",
        description="Caption each IMAGE (JPEG, PNG or WebP) with an exported captioning model; one caption per "
        "line on stdout (prefixed with the file name when there are several).",
    )
    caption.add_argument("images", nargs="*", metavar="IMAGE", help="photo files")
    caption.add_argument("--model", required=True, help=MODEL_URI_HELP)
    caption.add_argument("--beam-size", type=beam_size, help="beam size (default: the model's config)")
    caption.add_argument("--figures", metavar="DIR", help="also save each photo's per-word attention figure in DIR")
    caption.set_defaults(func=_caption)
