"""Self-supervised losses for deep functional maps: learn features from pairs of shapes
without ground truth.

The feature network runs on both shapes; :func:`~shapecorr.learn.fmap_layer.fmap_from_features`
turns the features into functional maps in both directions, ``C_xy (k_y, k_x)`` and ``C_yx
(k_x, k_y)``; a soft vertex map (a softmax of the feature similarity) is computed in both
directions too. None of the terms needs a ground-truth correspondence; all of them are small
when the features describe a near-isometric correspondence:

- **bijectivity**: ``||C_xy C_yx - I||^2 + ||C_yx C_xy - I||^2``: the two directions are
  inverses of each other;
- **orthogonality**: ``||C_xy^T C_xy - I||^2 + ||C_yx^T C_yx - I||^2``: the maps preserve the
  area-weighted inner product (an area-preserving correspondence);
- **Laplacian commutativity**: ``||C_xy Lx - Ly C_xy||^2`` and its reverse (normalized
  eigenvalues): an isometry commutes with the Laplacians;
- **coupling** (ULRSSM, Cao et al. 2023): the functional map and the soft vertex map must be
  the same map, ``C_xy ~ Phi_y^+ Pi_yx Phi_x`` with ``Pi_yx (n_y, n_x)`` the row-wise softmax of
  ``<f_y, f_x> / tau`` on unit-length features, and the same from y to x. This is the term
  that makes the *vertex-wise* nearest neighbours in feature space (which the matcher uses)
  agree with a smooth, bijective map.

The losses are Frobenius norms squared (sums), as in the references. Features are normalized to
unit length inside (the matcher compares unit-length features).

**Learned regularizer** (``LossWeights(regularizer="prior")``, DiffuMatch): orthogonality and
Laplacian commutativity are axioms of near-isometries; with the learned prior over functional
maps (:mod:`shapecorr.learn.prior`) both are dropped, the map layer uses the per-entry mask
distilled from the prior (:func:`~shapecorr.learn.prior.distill.prior_entry_mask`) instead of
the resolvent mask, and the loss gains the prior's score-distillation penalty on both maps
(:func:`~shapecorr.learn.prior.distill.prior_penalty`, term ``prior``). Bijectivity and
coupling stay: they say the maps are one correspondence, not what a correspondence looks like.

**Orientation** (``LossWeights(orient=w)``, with orientation operators in both shapes'
:class:`SpectralData`): every term above is blind to a left/right mirror (an isometry too). The
orientation-preserving term of the axiomatic solve (Ren et al. 2018) is not: ``O[f] = Phi^T A
<n x grad f, grad Phi>`` (:func:`shapecorr.spectral.orientation_operators`) of intrinsic
descriptors ``f`` commutes with an orientation-preserving map, ``C_xy O_x[f] = O_y[f] C_xy``, and
changes sign under a mirror. Term ``orient``: ``sum_f ||C_xy O_x[f] - O_y[f] C_xy||^2`` divided by
``sum_f (||O_x[f]||^2 + ||O_y[f]||^2) / 2``, both directions (about 0 for the true map, about 4
for its mirror image, scale-free).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch

from ..core.errors import SettingsError
from .fmap_layer import RESOLVENT_GAMMA, fmap_from_features, normalized_evals

REGULARIZERS = ("axiomatic", "prior")


@dataclass(frozen=True)
class SpectralData:
    """One shape's truncated eigenbasis as torch tensors on one device: ``evals (k,)``,
    ``evecs (n, k)`` (mass-orthonormal), ``mass (n,)`` lumped vertex areas; optionally
    ``orient (p, k, k)``, orientation operators of ``p`` descriptors in this basis (the loss's
    ``orient`` term; shapes with an orientation)."""

    evals: torch.Tensor
    evecs: torch.Tensor
    mass: torch.Tensor
    orient: torch.Tensor | None = None

    def __post_init__(self):
        k = self.evals.shape[0]
        n = self.mass.shape[0]
        if self.evals.ndim != 1 or self.mass.ndim != 1 or tuple(self.evecs.shape) != (n, k):
            raise ValueError(f"SpectralData needs evals (k,), evecs (n, k) and mass (n,); got "
                             f"{tuple(self.evals.shape)}, {tuple(self.evecs.shape)}, {tuple(self.mass.shape)}.")
        if self.orient is not None and (self.orient.ndim != 3 or tuple(self.orient.shape[1:]) != (k, k)):
            raise ValueError(f"SpectralData.orient needs orientation operators (p, {k}, {k}) in the same basis, got "
                             f"{tuple(self.orient.shape)}.")

    @property
    def k(self) -> int:
        return int(self.evals.shape[0])

    @property
    def n_vertices(self) -> int:
        return int(self.mass.shape[0])

    @classmethod
    def from_numpy(cls, evals: np.ndarray, evecs: np.ndarray, mass: np.ndarray, k: int, device="cpu",
                   dtype=torch.float32, orient: np.ndarray | None = None) -> SpectralData:
        """The first ``k`` eigenpairs of NumPy arrays (e.g. a :class:`~shapecorr.fmap.prepare.Prepared`'s);
        ``orient (p, K, K)``, K >= k: orientation operators, cut to their leading ``k x k`` block."""
        evals, evecs, mass = np.asarray(evals), np.asarray(evecs), np.asarray(mass)
        if k < 1 or k > len(evals) or evecs.ndim != 2 or evecs.shape[1] < k:
            raise ValueError(f"k={k} eigenpairs asked for, but {len(evals)} eigenvalues and evecs of shape "
                             f"{evecs.shape} were given; compute more eigenpairs or lower k.")
        f = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)
        if orient is not None:
            orient = np.asarray(orient)
            if orient.ndim != 3 or min(orient.shape[1:]) < k:
                raise ValueError(f"orient needs orientation operators (p, K, K) with K >= k={k}, got {orient.shape}.")
            orient = f(orient[:, :k, :k])
        return cls(f(evals[:k]), f(evecs[:, :k]), f(mass), orient)

    def to(self, device) -> SpectralData:
        return SpectralData(self.evals.to(device), self.evecs.to(device), self.mass.to(device),
                            None if self.orient is None else self.orient.to(device))


@dataclass(frozen=True)
class LossWeights:
    """The weights of the self-supervised loss's terms and the constants they use.

    ``bij``, ``orth``, ``lap``, ``couple``: weights of bijectivity, orthogonality, Laplacian
    commutativity and fmap/soft-map coupling (0 turns a term off). ``orient``: weight of the
    orientation term (module docstring; used when both shapes' :class:`SpectralData` carry
    orientation operators; default 0, off). ``tau``: temperature of the
    soft vertex map's softmax over cosine similarities. ``lam``, ``resolvent``: the
    regularization of the functional-map layer (:func:`fmap_from_features`). ``couple_points``:
    the soft map's rows are computed for at most this many random vertices per direction (the
    coupling map is then fitted on them by least squares; None: every vertex), which bounds the
    cost of the ``n_y x n_x`` softmax on large shapes.

    ``lam = 100`` (relative, with the resolvent mask) gave the functional map closest to the
    ground truth's from the supervised model's features on FAUST_r tr_reg_080 -> 085 (relative
    error 0.13 at k = 50, against 0.37 without regularization and 0.15 at 1000).

    ``regularizer``: ``"axiomatic"`` (the resolvent or Laplacian mask in the layer, ``orth`` and
    ``lap`` in the loss) or ``"prior"`` (module docstring: the learned prior ``prior``, a bundled
    name or a ``.pt`` file, gives the layer's mask, weighted by ``prior_lam`` instead of ``lam``,
    and the loss term ``prior_w`` x its penalty; ``orth``, ``lap`` and ``resolvent`` are then not
    used). The maps must then be of the prior's size (30 x 30 for the bundled priors).
    """

    bij: float = 1.0
    orth: float = 1.0
    lap: float = 1e-3
    couple: float = 1.0
    tau: float = 0.07
    lam: float = 100.0
    resolvent: bool = True
    couple_points: int | None = 2000
    regularizer: str = "axiomatic"
    prior: str = "prior_k30"
    prior_w: float = 1.0
    prior_lam: float = 0.03
    orient: float = 0.0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("bij", "orth", "lap", "couple", "lam", "prior_w", "prior_lam", "orient") and (
                    not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0):
                raise SettingsError(f"LossWeights.{f.name} must be a finite number >= 0, got {v!r}.")
        if not isinstance(self.tau, (int, float)) or not math.isfinite(self.tau) or self.tau <= 0:
            raise SettingsError(f"LossWeights.tau must be a finite number > 0, got {self.tau!r}.")
        if not isinstance(self.resolvent, bool):
            raise SettingsError(f"LossWeights.resolvent must be True or False, got {self.resolvent!r}.")
        if self.couple_points is not None and (isinstance(self.couple_points, bool)
                                               or not isinstance(self.couple_points, int) or self.couple_points < 10):
            raise SettingsError(f"LossWeights.couple_points must be None or an integer >= 10, got {self.couple_points!r}.")
        if self.regularizer not in REGULARIZERS:
            raise SettingsError(f"LossWeights.regularizer must be one of {', '.join(REGULARIZERS)}, got "
                                f"{self.regularizer!r}.")
        if not isinstance(self.prior, str) or not self.prior:
            raise SettingsError(f"LossWeights.prior must be a bundled prior name or a .pt file, got {self.prior!r}.")
        used = (self.bij, self.couple) + ((self.prior_w,) if self.regularizer == "prior" else (self.orth, self.lap))
        if sum(used) == 0:
            raise SettingsError(f"LossWeights: every term has weight 0 in the {self.regularizer} loss; give at least "
                                "one a positive weight.")


def _identity_error(M: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(M.shape[0], M.shape[1], dtype=M.dtype, device=M.device)
    return ((M - eye) ** 2).sum()


def bijectivity_loss(C_xy: torch.Tensor, C_yx: torch.Tensor) -> torch.Tensor:
    """``||C_xy C_yx - I||^2 + ||C_yx C_xy - I||^2``."""
    return _identity_error(C_xy @ C_yx) + _identity_error(C_yx @ C_xy)


def orthogonality_loss(C: torch.Tensor) -> torch.Tensor:
    """``||C^T C - I||^2`` for ``C (k_y, k_x)`` (identity of size ``k_x``)."""
    return _identity_error(C.T @ C)


def laplacian_commutativity_loss(C_xy: torch.Tensor, spec_x: SpectralData, spec_y: SpectralData) -> torch.Tensor:
    """``||C_xy Lx - Ly C_xy||^2`` with the normalized eigenvalues of both shapes."""
    lx, ly = normalized_evals(spec_x.evals, spec_y.evals)
    return ((C_xy * (ly[:, None] - lx[None, :])) ** 2).sum()


def orientation_loss(C_xy: torch.Tensor, orient_x: torch.Tensor, orient_y: torch.Tensor) -> torch.Tensor:
    """``sum_f ||C_xy O_x[f] - O_y[f] C_xy||^2 / (sum_f (||O_x[f]||^2 + ||O_y[f]||^2) / 2)`` for
    orientation operators ``O_x (p, k_x, k_x)``, ``O_y (p, k_y, k_y)`` of the same descriptors
    (module docstring): small for an orientation-preserving map, about 4 for a mirror image."""
    residual = C_xy[None] @ orient_x - orient_y @ C_xy[None]  # (p, k_y, k_x)
    scale = 0.5 * ((orient_x ** 2).sum() + (orient_y ** 2).sum())
    return (residual ** 2).sum() / scale.clamp_min(1e-30)


def soft_map(feat_from: torch.Tensor, feat_to: torch.Tensor, tau: float) -> torch.Tensor:
    """``Pi (n_from, n_to)``: row-wise softmax of ``<f_from, f_to> / tau`` (unit features):
    each row is a distribution over the vertices of the other shape."""
    return torch.softmax(feat_from @ feat_to.T / tau, dim=1)


def pointwise_fmap(Pi_yx: torch.Tensor, spec_x: SpectralData, spec_y: SpectralData,
                   rows: torch.Tensor | None = None) -> torch.Tensor:
    """The functional map ``(k_y, k_x)`` of a soft vertex map from y to x, ``Phi_y^+ Pi_yx Phi_x``.

    ``rows``: the vertices of y that ``Pi_yx``'s rows belong to (None: all of them, in order).
    With a subset the map is the mass-weighted least-squares fit on those vertices, ``(Phi_S^T
    M_S Phi_S)^-1 Phi_S^T M_S (Pi Phi_x)_S``, which is ``Phi_y^T M_y Pi Phi_x`` when S is
    every vertex (the eigenbasis is mass-orthonormal)."""
    moved = Pi_yx @ spec_x.evecs  # (|S|, k_x): the eigenfunctions of x pulled back to y's vertices
    if rows is None:
        return spec_y.evecs.T @ (spec_y.mass[:, None] * moved)
    phi = spec_y.evecs[rows]  # (|S|, k_y)
    wphi = spec_y.mass[rows][:, None] * phi
    gram = phi.T @ wphi
    gram = gram + 1e-8 * torch.diagonal(gram).mean() * torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram, wphi.T @ moved)


def _rows(n: int, limit: int | None, generator: torch.Generator | None, device) -> torch.Tensor | None:
    if limit is None or n <= limit:
        return None
    return torch.randperm(n, generator=generator)[:limit].to(device)


def coupling_loss(C_xy: torch.Tensor, feat_x: torch.Tensor, feat_y: torch.Tensor, spec_x: SpectralData,
                  spec_y: SpectralData, tau: float, couple_points: int | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``||C_xy - Phi_y^+ Pi_yx Phi_x||^2`` (one direction) for unit features; ``Pi_yx`` rows
    on at most ``couple_points`` random vertices of y (drawn with ``generator``)."""
    rows = _rows(feat_y.shape[0], couple_points, generator, feat_y.device)
    fy = feat_y if rows is None else feat_y[rows]
    Pi = soft_map(fy, feat_x, tau)
    return ((C_xy - pointwise_fmap(Pi, spec_x, spec_y, rows)) ** 2).sum()


def unit_features(feat: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(feat, dim=1)


def pair_fmaps(fx: torch.Tensor, fy: torch.Tensor, spec_x: SpectralData, spec_y: SpectralData,
               weights: LossWeights = LossWeights()) -> tuple[torch.Tensor, torch.Tensor]:
    """``(C_xy, C_yx)`` of the map layer for unit features, regularized as ``weights`` says:
    the resolvent/Laplacian mask (``"axiomatic"``) or the prior's entry mask (``"prior"``)."""
    if weights.regularizer == "prior":
        from .prior import load_prior
        from .prior.distill import prior_entry_mask

        prior = load_prior(weights.prior, str(fx.device))
        if spec_x.k != prior.k or spec_y.k != prior.k:
            raise SettingsError(f"the prior regularizer needs {prior.k} x {prior.k} functional maps (the size the prior "
                                f"{prior.name} models), got eigenbases of {spec_x.k} and {spec_y.k} functions; build the "
                                f"SpectralData with k={prior.k} (k_loss / k_init = {prior.k}).")
        D = prior_entry_mask(prior).to(fx.device, fx.dtype)
        return (fmap_from_features(fx, fy, spec_x, spec_y, lam=weights.prior_lam, mask=D[:spec_y.k, :spec_x.k]),
                fmap_from_features(fy, fx, spec_y, spec_x, lam=weights.prior_lam, mask=D[:spec_x.k, :spec_y.k]))
    kw = {"lam": weights.lam, "resolvent": weights.resolvent, "gamma": RESOLVENT_GAMMA}
    return fmap_from_features(fx, fy, spec_x, spec_y, **kw), fmap_from_features(fy, fx, spec_y, spec_x, **kw)


def unsupervised_pair_loss(feat_x: torch.Tensor, feat_y: torch.Tensor, spec_x: SpectralData, spec_y: SpectralData,
                           weights: LossWeights = LossWeights(), *,
                           generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The self-supervised loss of one pair: ``(total, parts)``, ``total`` a differentiable
    scalar, ``parts`` each weighted term's value (``bij``, ``orth``, ``lap``, ``couple``, or with
    the prior regularizer ``bij``, ``prior``, ``couple``; ``orient`` when it is on) as floats. ``feat_x (n_x, d)``,
    ``feat_y (n_y, d)``: raw network outputs (normalized here). ``generator``: the random vertex
    subsets of the coupling term (``weights.couple_points``)."""
    fx, fy = unit_features(feat_x), unit_features(feat_y)
    C_xy, C_yx = pair_fmaps(fx, fy, spec_x, spec_y, weights)
    use_prior = weights.regularizer == "prior"
    terms: dict[str, torch.Tensor] = {}
    if weights.bij:
        terms["bij"] = weights.bij * bijectivity_loss(C_xy, C_yx)
    if use_prior and weights.prior_w:
        from .prior.distill import prior_penalty

        terms["prior"] = weights.prior_w * (prior_penalty(C_xy, weights.prior) + prior_penalty(C_yx, weights.prior))
    if weights.orth and not use_prior:
        terms["orth"] = weights.orth * (orthogonality_loss(C_xy) + orthogonality_loss(C_yx))
    if weights.lap and not use_prior:
        terms["lap"] = weights.lap * (laplacian_commutativity_loss(C_xy, spec_x, spec_y)
                                      + laplacian_commutativity_loss(C_yx, spec_y, spec_x))
    if weights.orient and spec_x.orient is not None and spec_y.orient is not None:
        terms["orient"] = weights.orient * (orientation_loss(C_xy, spec_x.orient, spec_y.orient)
                                            + orientation_loss(C_yx, spec_y.orient, spec_x.orient))
    if weights.couple:
        kw = {"tau": weights.tau, "couple_points": weights.couple_points, "generator": generator}
        terms["couple"] = weights.couple * (coupling_loss(C_xy, fx, fy, spec_x, spec_y, **kw)
                                            + coupling_loss(C_yx, fy, fx, spec_y, spec_x, **kw))
    total = sum(terms.values())
    return total, {name: float(v.detach()) for name, v in terms.items()}
