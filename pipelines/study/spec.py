"""What a study is: its configs (their YAML text, so a resumed study trains what the first one did), seeds,
budget and threshold; stored as the parent run's ``study/spec.json``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from attnops.pipelines.config import load_config
from attnops.pipelines.errors import UserError
from attnops.pipelines.tasks import task_for

SPEC_ARTIFACT = "study/spec.json"


class Budget(BaseModel):
    """One training budget for every trial: optimizer steps or wall minutes, with validation every N steps."""

    steps: int | None = Field(None, ge=1)
    minutes: float | None = Field(None, gt=0.0)
    val_every: int = Field(50, ge=1)
    """Validate every N steps: the points of the quality-against-time curve."""

    @model_validator(mode="after")
    def _one_limit(self) -> Budget:
        if (self.steps is None) == (self.minutes is None):
            raise ValueError("give exactly one budget: steps or minutes")
        if self.steps is not None and self.steps % self.val_every:
            raise ValueError(f"budget steps {self.steps} must be a multiple of val_every {self.val_every}")
        return self

    def overrides(self) -> list[str]:
        limit = f"train.max_steps={self.steps}" if self.steps else f"train.max_minutes={self.minutes}"
        return [limit, "train.max_epochs=100000", "train.early_stopping_patience=0",
                f"train.val_every_steps={self.val_every}"]  # fmt: skip

    def describe(self) -> str:
        limit = f"{self.steps} steps" if self.steps else f"{self.minutes:g} wall minutes (validation included)"
        return f"{limit}, validation every {self.val_every} steps"


class StudyConfig(BaseModel):
    label: str
    """The config file's stem: the table's row name."""
    source: str
    """The config file's path when the study started."""
    text: str
    """Its YAML text."""


@dataclass(frozen=True)
class Trial:
    """One child run: a config at one seed."""

    config: StudyConfig
    seed: int
    overrides: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.config.label}/seed{self.seed}"


class StudySpec(BaseModel):
    name: str
    experiment: str
    task: str
    configs: list[StudyConfig]
    seeds: list[int] = Field(min_length=1)
    budget: Budget
    threshold: float | None
    """Time to reach this value of the task's curve metric (None: not timed)."""
    overrides: list[str] = []
    """``--set`` overrides for every trial."""
    decode_sentences: int = Field(64, ge=1)
    cpus_per_trial: int | None = Field(None, ge=1)
    """CPUs each trial reserves (None: a whole node of the Ray cluster)."""

    def trials(self, headline_overrides: tuple[str, ...], cpus: int) -> list[Trial]:
        fixed = [*headline_overrides, *self.budget.overrides(), f"tracking.experiment={self.experiment}",
                 f"train.num_threads={cpus}", *self.overrides]  # fmt: skip
        return [
            Trial(config, seed, (*fixed, f"train.seed={seed}", f"tracking.run_name={config.label}/seed{seed}"))
            for config in self.configs
            for seed in self.seeds
        ]


def read_configs(paths: list[str], overrides: list[str]) -> tuple[str, list[StudyConfig]]:
    """The configs of a study and their one task; :class:`UserError` for a bad file, a repeated name or mixed tasks."""
    configs, tasks = [], set()
    for path in map(Path, paths):
        tasks.add(task_for(load_config(path, overrides)).name)
        configs.append(StudyConfig(label=path.stem, source=str(path), text=path.read_text()))
    labels = [c.label for c in configs]
    if len(set(labels)) != len(labels):
        raise UserError(f"configs must have different file names (they name the table's rows): {', '.join(labels)}")
    if len(tasks) != 1:
        raise UserError(f"a study compares configs of one task; got {', '.join(sorted(tasks))}")
    return tasks.pop(), configs
