"""The denoising network of the prior: a small U-Net over the ``k x k`` image ``|C|``.

Input: the noisy image (scaled by the diffusion's ``c_in``) and three fixed coordinate channels
(row ``i / k``, column ``j / k``, ``|i - j| / k``): the structure of a functional map is tied
to position (the diagonal "funnel" widens with frequency), which plain convolutions would not
see. The noise level enters through a sinusoidal embedding that scales and shifts every block
(FiLM). Two down-samplings (30 -> 15 -> 8 for k = 30) give each output pixel a view of the
whole map. About 0.6 M parameters (2.4 MB) with the default widths.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...core import SettingsError


@dataclass(frozen=True)
class PriorNetConfig:
    """Sizes of the denoising U-Net (validated)."""

    k: int = 30  # map size it models
    channels: tuple[int, ...] = (32, 64, 64)  # width at each resolution (full, 1/2, 1/4)
    blocks: int = 1  # residual blocks per resolution on the way down (one more on the way up)
    emb: int = 64  # noise-level embedding size
    groups: int = 8  # GroupNorm groups

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.k < 4:
            raise SettingsError(f"prior k = {self.k}: use a map of at least 4 x 4 (30 is the pipeline's size).")
        if not self.channels or any(c < 1 or c % self.groups for c in self.channels):
            raise SettingsError(f"prior channels {self.channels}: every width must be a positive multiple of "
                                f"groups = {self.groups}.")
        if self.blocks < 1 or self.emb < 2 or self.emb % 2:
            raise SettingsError(f"prior blocks = {self.blocks}, emb = {self.emb}: need blocks >= 1 and an even emb >= 2.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PriorNetConfig:
        d = dict(d)
        d["channels"] = tuple(d.get("channels", cls.channels))
        return cls(**d)


def noise_embedding(c_noise: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features ``(b, dim)`` of the (log) noise level ``c_noise (b,)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=c_noise.dtype, device=c_noise.device) / half)
    arg = 100.0 * c_noise[:, None] * freqs[None]
    return torch.cat([torch.cos(arg), torch.sin(arg)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the noise embedding as scale and shift in between."""

    def __init__(self, c_in: int, c_out: int, emb: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb, 2 * c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(e)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.norm2(h) * (1 + scale) + shift)
        return self.skip(x) + self.conv2(h)


class PriorUNet(nn.Module):
    """``F(x_in, c_noise) -> (b, 1, k, k)``: the raw network the diffusion preconditions."""

    def __init__(self, config: PriorNetConfig = PriorNetConfig()):
        super().__init__()
        self.config = cfg = config
        ch, g = cfg.channels, cfg.groups
        self.emb = nn.Sequential(nn.Linear(cfg.emb, cfg.emb), nn.SiLU(), nn.Linear(cfg.emb, cfg.emb))
        self.inp = nn.Conv2d(4, ch[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        c = ch[0]
        skips = []
        for level, width in enumerate(ch):
            if level:
                self.pool.append(nn.Conv2d(c, width, 3, stride=2, padding=1))
                c = width
            blocks = nn.ModuleList([ResBlock(c, width, cfg.emb, g) for _ in range(cfg.blocks)])
            self.down.append(blocks)
            c = width
            skips.append(c)
        self.mid = ResBlock(c, c, cfg.emb, g)
        self.up = nn.ModuleList()
        for level in reversed(range(len(ch))):
            width = ch[level]
            self.up.append(nn.ModuleList([ResBlock(c + skips[level], width, cfg.emb, g)] +
                                         [ResBlock(width, width, cfg.emb, g) for _ in range(cfg.blocks - 1)]))
            c = width
        self.out_norm = nn.GroupNorm(g, c)
        self.out = nn.Conv2d(c, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        i = torch.arange(cfg.k, dtype=torch.float32)
        coords = torch.stack([i[:, None].expand(cfg.k, cfg.k), i[None, :].expand(cfg.k, cfg.k),
                              (i[:, None] - i[None, :]).abs()]) / cfg.k
        self.register_buffer("coords", coords[None], persistent=False)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        b, _, k, k2 = x.shape
        if (k, k2) != (self.config.k, self.config.k):
            raise SettingsError(f"this prior models {self.config.k} x {self.config.k} maps; got {k} x {k2}.")
        e = self.emb(noise_embedding(c_noise, self.config.emb))
        h = self.inp(torch.cat([x, self.coords.expand(b, -1, -1, -1).to(x.dtype)], dim=1))
        skips = []
        for level, blocks in enumerate(self.down):
            if level:
                h = self.pool[level - 1](h)
            for blk in blocks:
                h = blk(h, e)
            skips.append(h)
        h = self.mid(h, e)
        for blocks, skip in zip(self.up, reversed(skips)):
            if h.shape[-2:] != skip.shape[-2:]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = torch.cat([h, skip], dim=1)
            for blk in blocks:
                h = blk(h, e)
        return self.out(F.silu(self.out_norm(h)))

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
