"""Unlearning to repair: corruption scenarios (label noise, backdoor, spurious feature), the
scores that say whether the damage is undone, and the hook that runs a repair comparison
through the one pipeline (``experiment.compare(..., scenario=RepairScorer(s))``).

The methods that read the fixed versions (``warnecke_first``, ``warnecke_second``) live in
``unlearn_core.methods`` like every other; their linear algebra is :mod:`.influence`.
"""

from .pipeline import CLEAN, RepairScorer
from .scenarios import KINDS, Corruption, Scenario, ScenarioError, make_scenario, patch_mask
from .scores import REPAIR_KEYS, asr, mean_loss, patch_share, restoration, true_label_acc

__all__ = [
    "CLEAN",
    "KINDS",
    "REPAIR_KEYS",
    "Corruption",
    "RepairScorer",
    "Scenario",
    "ScenarioError",
    "asr",
    "make_scenario",
    "mean_loss",
    "patch_mask",
    "patch_share",
    "restoration",
    "true_label_acc",
]
