"""Fréchet distance between Gaussian fits of two embedding sets (FAD, docs/metrics.md).

FD = |μ₁ − μ₂|² + tr(Σ₁) + tr(Σ₂) − 2 tr((Σ₁ Σ₂)^½). The trace of the matrix square root is computed from
eigen-decompositions of symmetric matrices: with S = Σ₁^½ (symmetric), Σ₁Σ₂ = S (S Σ₂ S) S⁻¹ is similar to the
symmetric PSD matrix S Σ₂ S, so tr((Σ₁Σ₂)^½) = Σᵢ √λᵢ(S Σ₂ S) (any factor Σ₁ = F Fᵀ works in place of S,
e.g. a Cholesky factor). Symmetric eigenvalue problems replace scipy's Schur-based ``sqrtm`` of a non-symmetric
matrix.
"""

from __future__ import annotations

import torch


def gaussian_sums(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sufficient statistics of a feature set, in float64 so they can be summed across batches and ranks.

    Args:
        features: (N, D) embeddings.

    Returns:
        count (scalar), Σx (D,), Σxxᵀ (D, D), all float64.
    """
    x = features.double()
    return torch.tensor(float(x.shape[0]), dtype=torch.float64, device=x.device), x.sum(0), x.T @ x


def mean_cov_from_sums(
    count: torch.Tensor, sum_x: torch.Tensor, sum_xxt: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance (divisor N − 1, as ``numpy.cov``) from :func:`gaussian_sums`.

    Args:
        count: scalar N ≥ 2.
        sum_x: (D,) Σx.
        sum_xxt: (D, D) Σxxᵀ.

    Returns:
        μ (D,), Σ (D, D), float64.
    """
    n = float(count)
    if n < 2:
        raise ValueError(f"a covariance needs at least 2 embeddings, got {n:g}")
    mu = sum_x / n
    cov = (sum_xxt - n * torch.outer(mu, mu)) / (n - 1)
    return mu, (cov + cov.T) / 2


def _sqrt_psd(mat: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric PSD matrix; tiny negative eigenvalues (round-off) clamp to 0."""
    evals, evecs = torch.linalg.eigh(mat)
    return (evecs * evals.clamp(min=0).sqrt()) @ evecs.T


def trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """tr((Σ₁ Σ₂)^½) for symmetric PSD Σ₁, Σ₂ (D, D), via symmetric eigenvalue problems. Returns a float64 scalar.

    Σ₁Σ₂ is similar to the symmetric PSD matrix Fᵀ Σ₂ F for any factor Σ₁ = F Fᵀ. F is the Cholesky factor
    when Σ₁ is positive definite (cheapest), else Σ₁^½ from ``eigh`` (e.g. fewer embeddings than dimensions).
    """
    s1, s2 = sigma1.double(), sigma2.double()
    factor, info = torch.linalg.cholesky_ex(s1)
    if int(info) != 0:
        factor = _sqrt_psd(s1)
    m = factor.T @ s2 @ factor  # symmetric up to round-off; eigvalsh reads its lower triangle only
    return torch.linalg.eigvalsh(m).clamp(min=0).sqrt().sum()


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂).

    Args:
        mu1: (D,) mean of set 1.
        sigma1: (D, D) covariance of set 1.
        mu2: (D,) mean of set 2.
        sigma2: (D, D) covariance of set 2.

    Returns:
        float64 scalar, in squared embedding units.
    """
    diff = (mu1.double() - mu2.double()).pow(2).sum()
    return diff + torch.trace(sigma1.double()) + torch.trace(sigma2.double()) - 2 * trace_sqrt_product(sigma1, sigma2)


def fad_from_features(features1: torch.Tensor, features2: torch.Tensor) -> torch.Tensor:
    """Fréchet distance between the Gaussian fits of two embedding sets.

    Args:
        features1: (N1, D) embeddings (e.g. generated audio).
        features2: (N2, D) embeddings (e.g. reference audio).

    Returns:
        float64 scalar.
    """
    mu1, s1 = mean_cov_from_sums(*gaussian_sums(features1))
    mu2, s2 = mean_cov_from_sums(*gaussian_sums(features2))
    return frechet_distance(mu1, s1, mu2, s2)
