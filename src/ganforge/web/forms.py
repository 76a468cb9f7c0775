"""What the page may ask of the server's training: the start and resume forms, field by field.

Every field is range-checked here (FastAPI answers a refusal with a 422 naming the field); the preset and the
dataset are checked against the server's own lists, so no value of a form ever becomes a path by itself.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_STEPS = 10_000_000
MAX_SEED = 2**32 - 1
NAMED_DATASETS = ("mnist", "fashion-mnist", "mnist-sample")
FOLDER_PREFIX = "folder:"
RUN_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"


class StartRequest(BaseModel):
    """A new run: ``ganforge train --preset P --dataset D --steps N ...`` in the runs root."""

    model_config = ConfigDict(extra="forbid")

    preset: str = Field(max_length=100, description="a preset from GET /api/presets")
    dataset: str = Field(max_length=200, description="mnist, fashion-mnist, mnist-sample, or folder:NAME with "
                                                     "NAME from GET /api/datasets")
    steps: int = Field(ge=1, le=MAX_STEPS, description="total training steps")
    batch_size: int | None = Field(None, ge=1, le=4096, description="images per step (default: the preset's)")
    width: int | None = Field(None, ge=1, le=1024, description="channel width of the lean DCGAN and ResNet presets")
    lr_g: float | None = Field(None, gt=0, le=1, description="generator learning rate")
    lr_d: float | None = Field(None, gt=0, le=1, description="discriminator learning rate")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="random seed of the run")
    eval_every: int | None = Field(None, ge=1, le=MAX_STEPS, description="evaluate every N steps")
    log_every: int | None = Field(None, ge=1, le=MAX_STEPS, description="steps between log records (default 50)")
    grid_every: int | None = Field(None, ge=1, le=MAX_STEPS, description="steps between fixed-noise grids")
    name: str | None = Field(None, pattern=RUN_NAME, description="the run folder's name (default: preset, dataset, "
                                                                 "date and time)")

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        from ..presets import PRESETS

        if value not in PRESETS:
            raise ValueError(f"unknown preset; choose one of GET /api/presets ({', '.join(list(PRESETS)[:6])}, ...)")
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset_form(cls, value: str) -> str:
        if value not in NAMED_DATASETS and not value.startswith(FOLDER_PREFIX):
            raise ValueError(f"must be one of {', '.join(NAMED_DATASETS)} or folder:NAME (a folder listed by "
                             f"GET /api/datasets)")
        return value

    def train_fields(self) -> dict:
        """The given fields as TrainConfig fields (the dataset is filled in by the server)."""
        values = self.model_dump(exclude_none=True, exclude={"name", "width", "dataset"})
        if self.width is not None:
            values["extra"] = {"width": self.width}
        return values


class ResumeRequest(BaseModel):
    """Carry a stopped or finished run on: ``ganforge train --resume RUN --steps N``."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(ge=1, le=MAX_STEPS, description="the new total, more than the step the run is at")
