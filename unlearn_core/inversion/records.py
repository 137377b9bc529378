"""Typed, JSON-serialisable results of the unlearning inversion attack."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields


def _mean(values: list[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


@dataclass
class SampleInversion:
    """One forgotten training sample: its reconstruction from the real update and from the
    baseline update (one that carries no information about it), their scores, the labels."""

    index: int
    true_label: int
    #: the label inference's answer for this sample (the reconstruction's label when several
    #: samples were forgotten together), and whether it is right
    inferred_label: int
    label_correct: bool
    psnr: float
    ssim: float
    #: 1 - cos between the reconstruction's gradient and the update (what the attack minimised,
    #: without TV); the restart with the lowest one was kept
    match_loss: float
    baseline_label: int
    baseline_label_correct: bool
    baseline_psnr: float
    baseline_ssim: float
    baseline_match_loss: float
    #: cos(gradient of the true sample, the attacked update): a diagnostic the attack never reads
    gradient_cosine: float
    #: L2 norm of the weight change (the request's; shared by samples forgotten together)
    update_norm: float
    #: the true image, the reconstructions (nested lists, the data's value range); omitted
    #: from :meth:`InversionResult.summary`
    image: list | None = None
    reconstruction: list | None = None
    baseline_reconstruction: list | None = None

    def to_dict(self, images: bool = True) -> dict:
        d = asdict(self)
        if not images:
            for k in ("image", "reconstruction", "baseline_reconstruction"):
                d.pop(k)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SampleInversion:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class InversionResult:
    """An inversion run: per-sample figures and their means (``psnr``, ``baseline_psnr``,
    ``label_accuracy``, ...)."""

    dataset: str
    model: str
    method: str
    params: dict
    seed: int
    #: True: the samples were forgotten in one request (one summed update); False: one each
    together: bool
    samples: list[SampleInversion]
    config: dict
    image_shape: list[int]
    value_range: list[float]
    #: what the baseline update is (text)
    baseline: str = ""
    seconds: float = 0.0
    #: wall time per stage (training originals, unlearning, probes, matching)
    stage_seconds: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: the stored run the models came from, if any
    run_id: str | None = None

    @property
    def psnr(self) -> float | None:
        return _mean([s.psnr for s in self.samples])

    @property
    def ssim(self) -> float | None:
        return _mean([s.ssim for s in self.samples])

    @property
    def baseline_psnr(self) -> float | None:
        return _mean([s.baseline_psnr for s in self.samples])

    @property
    def baseline_ssim(self) -> float | None:
        return _mean([s.baseline_ssim for s in self.samples])

    @property
    def label_accuracy(self) -> float | None:
        return _mean([float(s.label_correct) for s in self.samples])

    @property
    def baseline_label_accuracy(self) -> float | None:
        return _mean([float(s.baseline_label_correct) for s in self.samples])

    @property
    def gradient_cosine(self) -> float | None:
        return _mean([s.gradient_cosine for s in self.samples])

    def to_dict(self, images: bool = True) -> dict:
        head = {
            "psnr": self.psnr,
            "baseline_psnr": self.baseline_psnr,
            "ssim": self.ssim,
            "baseline_ssim": self.baseline_ssim,
            "label_accuracy": self.label_accuracy,
            "baseline_label_accuracy": self.baseline_label_accuracy,
            "gradient_cosine": self.gradient_cosine,
        }
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "samples"}
        return {
            **head,
            **body,
            "samples": [s.to_dict(images) for s in self.samples],
        }

    def summary(self) -> dict:
        """:meth:`to_dict` without the images."""
        return self.to_dict(images=False)

    @classmethod
    def from_dict(cls, d: dict) -> InversionResult:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names and k != "samples"}
        return cls(samples=[SampleInversion.from_dict(s) for s in d.get("samples", [])], **kw)
