"""The serving side starts without the training stack, and importing it sets nothing as a side effect."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.subprocess

TRAINING_STACK = (
    "lightning",
    "pytorch_lightning",
    "datasets",
    "sacrebleu",
    "rouge_score",
    "sumy",
    "sklearn",
    "torch.onnx",
)
MODEL_RUNTIME = ("torch", "onnxruntime", "onnx", "attnops.pipelines.tasks", "attnops.models")
PROBE = """
import json, sys
import mlflow.models.model
import {modules}
print(json.dumps({{
    "loaded": [name for name in {stack!r} if name in sys.modules],
    "mlflow_model_set": mlflow.models.model.__mlflow_model__ is not None,
}}))
"""


def _probe(*modules: str, stack: tuple[str, ...] = TRAINING_STACK) -> dict:
    code = PROBE.format(modules=", ".join(modules), stack=stack)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_serving_app_imports_no_training_stack_and_sets_no_model():
    assert _probe("attnops.serving.app") == {"loaded": [], "mlflow_model_set": False}


def test_the_gateway_loads_no_model_runtime_and_no_task():
    assert _probe("attnops.serving.app", stack=MODEL_RUNTIME)["loaded"] == []


def test_the_probe_sees_the_model_runtime_of_a_task_and_the_registry_of_the_application_builder():
    # The registry names its tasks: a task's own module loads the runtime, when the builder looks the task up.
    assert {"torch", "onnxruntime"} <= set(_probe("attnops.pipelines.captioning.task", stack=MODEL_RUNTIME)["loaded"])
    assert "attnops.pipelines.tasks" in _probe("attnops.serving.build", stack=MODEL_RUNTIME)["loaded"]


def test_every_replica_and_the_inference_side_stay_light():
    modules = (
        "attnops.serving.translation_replica",
        "attnops.serving.document_replica",
        "attnops.serving.caption_replica",
        "attnops.serving.server",
        "attnops.pipelines.inference.resolve",
        "attnops.pipelines.predict",
        "attnops.pipelines.tasks",
    )
    assert _probe(*modules) == {"loaded": [], "mlflow_model_set": False}


def test_the_probe_sees_what_a_training_module_loads():
    # The check can fail: the training side does pull the stack in (and the pyfunc script sets the model).
    probed = _probe("attnops.pipelines.translation.train", "attnops.pipelines.pyfunc")
    assert {"pytorch_lightning", "sacrebleu"} <= set(probed["loaded"]) and probed["mlflow_model_set"]
