"""The systems of ``attnops bench serve``: the first-come twins differ from their systems in length grouping alone."""

from __future__ import annotations

import pytest
import yaml

from attnops.benchmarks.serve import _serve_config
from attnops.benchmarks.systems import PAIRED, SYSTEMS
from attnops.cli.main import build_parser
from attnops.serving.settings import TranslationSettings


def _translator(config: dict) -> dict:
    return next(d for d in config["applications"][0]["deployments"] if d["name"] == "Translator")


@pytest.mark.parametrize(("fifo", "system"), [("a-fifo", "a"), ("one-hop-fifo", "one-hop")])
def test_a_first_come_system_is_its_system_with_length_grouping_off(tmp_path, fifo, system):
    configs = {}
    for name in (fifo, system):
        path = _serve_config(tmp_path, "models:/tiny@champion", SYSTEMS[name], 0)
        configs[name] = yaml.safe_load(path.read_text())
    settings = {name: TranslationSettings.model_validate(_translator(c)["user_config"]) for name, c in configs.items()}
    assert settings[system].batch_by_length is True and settings[fifo].batch_by_length is False
    _translator(configs[fifo])["user_config"]["batch_by_length"] = True
    assert configs[fifo] == configs[system]  # nothing else differs: same layout, batch size, precision
    assert (system, fifo) in PAIRED  # reported side by side at every client count


def test_bench_serve_takes_the_first_come_systems():
    command = "bench serve --model models:/m@champion --systems one-hop one-hop-fifo --seconds 3 --clients 1 8"
    args = build_parser().parse_args(command.split())
    assert args.systems == ["one-hop", "one-hop-fifo"] and args.clients == [1, 8]
