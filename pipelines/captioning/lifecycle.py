"""Captioning's lifecycle members (see :class:`attnops.pipelines.task.LazyLifecycle`)."""

from __future__ import annotations

from attnops.pipelines.captioning import export, model, train

load_data = train.load_caption_data
prepare_training = train.prepare_training
evaluate_trained = train.evaluate_trained
evaluate_run = model.evaluate_caption_run
load_trained = export.load_trained
export_graphs = export.write_graphs
check_parity = export.parity_check
export_figures = export.caption_figures
example_input = export.example_input
