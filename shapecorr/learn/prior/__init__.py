"""A learned prior over functional maps (DiffuMatch-style): a score-based diffusion model of the
sign-free image ``|C|`` of ``k x k`` maps, trained on ground-truth maps, and its uses.

* :mod:`.data`      -- training maps from ground truth and from deformed copies; ``|C|`` images
* :mod:`.model`     -- the denoising U-Net
* :mod:`.diffusion` -- EDM preconditioning, training loss, ODE sampler, model files
* :mod:`.train`     -- the training loop (seeded, checkpoints)
* :mod:`.guidance`  -- ``prior_energy`` / ``prior_score`` (torch, differentiable) and
  ``refine_toward_prior`` (NumPy), the bundled prior

Importing this package imports torch.
"""

from .data import (
    PriorData,
    fmap_from_barycentric,
    fmap_from_correspondence,
    map_statistics,
    prior_image,
)
from .diffusion import DiffusionSettings, load_denoiser, save_denoiser
from .errors import PriorModelError
from .guidance import (
    DEFAULT_PRIOR,
    FmapPrior,
    bundled_priors,
    load_prior,
    prior_energy,
    prior_score,
    refine_toward_prior,
)
from .model import PriorNetConfig
from .train import PriorTrainSettings, train_prior

__all__ = [
    "DEFAULT_PRIOR", "DiffusionSettings", "FmapPrior", "PriorData", "PriorModelError", "PriorNetConfig",
    "PriorTrainSettings", "bundled_priors", "fmap_from_barycentric", "fmap_from_correspondence", "load_denoiser",
    "load_prior", "map_statistics", "prior_energy", "prior_image", "prior_score", "refine_toward_prior", "save_denoiser", "train_prior",
]
