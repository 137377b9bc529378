"""Image similarity scores for reconstructions: PSNR and SSIM (no scikit-image needed).

``ssim`` follows Wang, Bovik, Sheikh and Simoncelli, "Image Quality Assessment: From Error
Visibility to Structural Similarity" (IEEE TIP 2004): local means, variances and covariance
under a circular Gaussian window (sigma 1.5, 11 x 11, normalised to sum 1), constants
``C1 = (0.01 L)^2`` and ``C2 = (0.03 L)^2`` with ``L`` the data range, the SSIM map over the
windows that lie fully inside the image ("valid" positions, as the paper's MATLAB code),
averaged; a multi-channel image averages its channels' means.

Where we differ: images smaller than 11 pixels a side (the 8 x 8 digits) get the largest odd
window that fits (7 x 7 there, still sigma 1.5, renormalised), so there are a few valid
positions; the paper's images are all larger than the window.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: PSNR reported for identical images (the true value is infinite; JSON has no infinity)
PSNR_MAX = 100.0
#: the Gaussian window of Wang et al.
SSIM_SIGMA = 1.5
SSIM_WINDOW = 11
SSIM_K1, SSIM_K2 = 0.01, 0.03


def psnr(x: torch.Tensor, ref: torch.Tensor, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio (dB) of ``x`` against ``ref``:
    ``10 log10(data_range^2 / MSE)``, capped at :data:`PSNR_MAX` (identical images)."""
    mse = float(((x.detach().double() - ref.detach().double()) ** 2).mean())
    if mse <= 0.0:
        return PSNR_MAX
    return min(PSNR_MAX, 10.0 * math.log10(data_range**2 / mse))


def gaussian_window(size: int, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """A ``size x size`` circular Gaussian window of standard deviation ``sigma``, summing to 1."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    w = torch.outer(g, g)
    return w / w.sum()


def window_size(height: int, width: int) -> int:
    """:data:`SSIM_WINDOW`, or the largest odd size that fits a smaller image."""
    size = min(SSIM_WINDOW, height, width)
    return size if size % 2 else size - 1


def ssim(x: torch.Tensor, ref: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean structural similarity of image ``x`` against ``ref`` (shape ``(C, H, W)`` or
    ``(H, W)``); 1 for identical images. See the module text for the window."""
    a, b = x.detach().double(), ref.detach().double()
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.dim() == 2:
        a, b = a[None], b[None]
    if a.dim() != 3:
        raise ValueError(f"ssim: expected an image (C, H, W) or (H, W), got {tuple(a.shape)}")
    c, h, w = a.shape
    size = window_size(h, w)
    if size < 1:
        raise ValueError(f"ssim: image {h}x{w} is too small")
    win = gaussian_window(size)[None, None].expand(c, 1, size, size)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t[None], win, groups=c)[0]

    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    smap = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return float(smap.mean(dim=(1, 2)).mean())
