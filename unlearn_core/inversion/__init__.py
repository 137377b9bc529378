"""The unlearning inversion attack (Hu et al., IEEE S&P 2024): what the weight change made by
unlearning reveals about the forgotten samples.

``run_inversion(data, arch, indices, method)`` trains the original, forgets each sample with a
registered method and reconstructs it from the weight change by gradient matching, infers its
label from probe confidences, and scores both against a baseline update that carries no
information about the samples. ``attack`` holds the two attack parts, ``scores`` PSNR and
SSIM, ``records`` the typed results, ``stored`` the run store's kind ``"inversion"`` and
``report`` its HTML report.
"""

from .attack import (
    LABEL_SOURCES,
    InversionConfig,
    InversionError,
    Reconstruction,
    attack_target,
    confidence_change,
    gradient_cosine,
    infer_labels,
    make_probes,
    match_gradients,
    weight_delta,
)
from .pipeline import (
    MAX_SAMPLES,
    Problem,
    invert_problems,
    invert_stored_run,
    run_inversion,
    value_range,
)
from .records import InversionResult, SampleInversion
from .scores import PSNR_MAX, psnr, ssim
from .stored import INVERSION_KIND, inversion_body, load_inversion, read_inversion, save_inversion

__all__ = [
    "INVERSION_KIND",
    "LABEL_SOURCES",
    "MAX_SAMPLES",
    "PSNR_MAX",
    "InversionConfig",
    "InversionError",
    "InversionResult",
    "Problem",
    "Reconstruction",
    "SampleInversion",
    "attack_target",
    "confidence_change",
    "gradient_cosine",
    "infer_labels",
    "inversion_body",
    "invert_problems",
    "invert_stored_run",
    "load_inversion",
    "make_probes",
    "match_gradients",
    "psnr",
    "read_inversion",
    "run_inversion",
    "save_inversion",
    "ssim",
    "value_range",
    "weight_delta",
]
