"""The Ray Data actor of a predict job: loads the export once, then predicts block after block."""

from __future__ import annotations

import pandas as pd

from attnops.pipelines.offline.rows import Batching, predict_block

NODE = "_node"
"""Column the actor adds to each block it returns: the Ray node id it ran on (the driver removes it)."""


class BlockPredictor:
    """Callable class for ``Dataset.map_batches``: one per actor of the pool."""

    def __init__(self, model: str, precision: str, threads: int, batching: Batching) -> None:
        import ray
        import torch

        from attnops.pipelines.inference.resolve import resolve
        from attnops.pipelines.tasks import task_named

        torch.set_num_threads(threads)  # the search's own tensor ops, between graph calls
        self.bundle = resolve(model).bundle
        runtime = self.bundle.config.runtime.model_copy(update={"precision": precision, "intra_op_threads": threads})
        self.backend = self.bundle.backend(runtime)
        self.task = task_named(self.bundle.config.task)
        self.batching = batching
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, block: pd.DataFrame) -> pd.DataFrame:
        return predict_block(self.task, self.bundle, self.backend, block, self.batching).assign(**{NODE: self.node})
