"""The RecCrysFormer network (paper Section 3, Appendix G; SPEC §7).

Data flow for one example with grid (nu, nv, nw) and J residues::

    patterson (+ template) (C_in, nu, nv, nw)
      -> Conv3d k=7, circular padding, c channels ("same")      stem
      -> wrap-pad to multiples of p, split into p³ patches, Linear(c·p³ -> d) + pos. embedding
      -> L x [x += OneWayAttn(LN x, LN u);  x += FFN(LN x)]      u: partial-structure tokens
      -> LN, Linear(d -> c·p³), un-patch, crop to (nu, nv, nw)
      -> 2 BigGAN residual blocks (k=5) -> Conv3d k=3 -> tanh   post-processing

    residue cubes (J, 24, 24, 24)
      -> Conv3d k=7, circular, c' channels -> p³ patches -> Linear(c'·p³ -> d)
         + pos. embedding (within a cube) + residue-position embedding      u, fixed over layers

Choices where the paper is silent (documented in README.md): pre-LayerNorm blocks;
circular padding in every convolution (the maps are periodic; this makes the network
equivariant to whole-patch cyclic shifts apart from the absolute position embedding);
a learned 3-D position table sized for the largest grid and cropped to each bucket
(interpolated for a grid beyond it, :meth:`RecCrysFormer.position_table`);
BatchNorm + ReLU in the BigGAN blocks; grids that are not multiples of the patch
size are wrapped (periodic) to the next multiple after the stem and cropped back
before the post-processing, so the output grid always equals the input grid.

Size: over 400 lines because the paper's whole architecture (stem, patches, position
table, attention blocks, post-processing) is kept in one file that reads like Appendix G.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from baselines.reccrysformer.attention import OneWayAttention

__all__ = [
    "ModelConfig",
    "RecCrysFormer",
    "load_config",
    "count_parameters",
    "expected_parameters",
    "grid_for_data",
]

try:  # Python >= 3.11
    import tomllib as _toml
except ImportError:  # pragma: no cover - Python 3.10
    try:
        import tomli as _toml  # type: ignore[no-redef]
    except ImportError:
        _toml = None

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclasses.dataclass
class ModelConfig:
    """Architecture hyper-parameters (paper Appendix G names in brackets).

    Parameters
    ----------
    in_channels : int
        1 (Patterson) or 2 (Patterson + template map, recycling runs).
    channels : int
        Stem channels c [c = c' = 10].
    partial_channels : int
        Partial-structure stem channels c'.
    stem_kernel : int
        Kernel of both stems [7].
    patch : int
        Patch edge p [d1 = d2 = d3 = 4].
    dim : int
        Token width [d_t = 512].
    depth : int
        Transformer layers [L = 10].
    heads, head_dim : int
        [H = 8, d_h = 64].
    ffn_dim : int
        [d_ff = 2048].
    attention : {"exact", "nystrom"}
    num_landmarks : int
        Nyström landmarks [64].
    post_channels : int
        Width of the post-processing residual blocks.
    post_kernel, final_kernel : int
        [5, 3].
    post_blocks : int
        Number of BigGAN residual blocks [2].
    max_grid : tuple of int
        Largest grid (nu, nv, nw) the position table covers [88, 72, 60]; training
        extends it to the training data's largest bucket (:func:`grid_for_data`), and
        larger grids are interpolated (:meth:`RecCrysFormer.position_table`).
    residue_cube : int
        Edge of the residue cubes (24).
    max_residues : int
        Length of the residue-position table.
    residue_scale : float
        Residue cubes (e/Å³) are multiplied by this before the stem.
    """

    in_channels: int = 1
    channels: int = 10
    partial_channels: int = 10
    stem_kernel: int = 7
    patch: int = 4
    dim: int = 512
    depth: int = 10
    heads: int = 8
    head_dim: int = 64
    ffn_dim: int = 2048
    attention: str = "exact"
    num_landmarks: int = 64
    post_channels: int = 10
    post_kernel: int = 5
    final_kernel: int = 3
    post_blocks: int = 2
    max_grid: tuple[int, int, int] = (88, 72, 60)
    residue_cube: int = 24
    max_residues: int = 16
    residue_scale: float = 0.2

    def __post_init__(self) -> None:
        self.max_grid = tuple(int(x) for x in self.max_grid)  # type: ignore[assignment]
        if self.residue_cube % self.patch:
            raise ValueError("residue_cube must be a multiple of patch")

    def to_dict(self) -> dict:
        """Plain-JSON dict."""
        d = dataclasses.asdict(self)
        d["max_grid"] = list(self.max_grid)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Build from a dict; unknown keys raise ``TypeError``."""
        return cls(**d)


def load_config(name_or_path: str | Path) -> dict:
    """Read a run configuration (``[model]``, ``[train]`` tables) from TOML or JSON.

    ``name_or_path`` is a file, or the name of a bundled config: ``"paper"``,
    ``"dipeptide"`` or ``"tiny"``.
    """
    p = Path(name_or_path)
    if not p.exists():
        for ext in (".toml", ".json"):
            cand = CONFIG_DIR / f"{name_or_path}{ext}"
            if cand.exists():
                p = cand
                break
        else:
            known = sorted(q.stem for q in CONFIG_DIR.glob("*.toml"))
            raise FileNotFoundError(f"no config {name_or_path!r}; bundled configs: {known}")
    if p.suffix == ".json":
        return json.loads(p.read_text())
    if _toml is None:  # pragma: no cover
        raise ImportError("reading TOML configs on Python 3.10 needs `pip install tomli`")
    return _toml.loads(p.read_text())


def _conv(cin: int, cout: int, k: int) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, k, padding=k // 2, padding_mode="circular")


class ResBlock3d(nn.Module):
    """BigGAN residual block (no up/down-sampling): BN-ReLU-conv-BN-ReLU-conv + skip."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm3d(cin), _conv(cin, cout, k)
        self.bn2, self.conv2 = nn.BatchNorm3d(cout), _conv(cout, cout, k)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(self.bn1(x)))
        h = self.conv2(F.relu(self.bn2(h)))
        return h + self.skip(x)


class Block(nn.Module):
    """Pre-norm transformer layer with one-way attention."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.norm_x = nn.LayerNorm(cfg.dim)
        self.norm_u = nn.LayerNorm(cfg.dim)
        self.attn = OneWayAttention(cfg.dim, cfg.heads, cfg.head_dim, cfg.attention,
                                    cfg.num_landmarks)  # fmt: skip
        self.norm_ff = nn.LayerNorm(cfg.dim)
        self.ff = nn.Sequential(
            nn.Linear(cfg.dim, cfg.ffn_dim), nn.ReLU(), nn.Linear(cfg.ffn_dim, cfg.dim)
        )

    def forward(self, x: torch.Tensor, u: torch.Tensor | None, u_mask=None) -> torch.Tensor:
        un = self.norm_u(u) if u is not None else None
        x = x + self.attn(self.norm_x(x), un, u_mask)
        return x + self.ff(self.norm_ff(x))


def _patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(b, c, P·p, Q·p, R·p) -> (b, P·Q·R, c·p³)."""
    b, c, nu, nv, nw = x.shape
    x = x.reshape(b, c, nu // p, p, nv // p, p, nw // p, p)
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)
    return x.reshape(b, (nu // p) * (nv // p) * (nw // p), c * p**3)


def _unpatchify(t: torch.Tensor, c: int, p: int, grid: tuple[int, int, int]) -> torch.Tensor:
    """Inverse of :func:`_patchify` for a patch grid ``grid`` = (P, Q, R)."""
    b = t.shape[0]
    P, Q, R = grid
    x = t.reshape(b, P, Q, R, c, p, p, p).permute(0, 4, 1, 5, 2, 6, 3, 7)
    return x.reshape(b, c, P * p, Q * p, R * p)


def _wrap_pad(x: torch.Tensor, target: tuple[int, int, int]) -> torch.Tensor:
    """Periodic extension of the last three axes up to ``target`` (at the high end)."""
    for axis, n in zip((2, 3, 4), target):
        extra = n - x.shape[axis]
        if extra > 0:
            reps = -(-extra // x.shape[axis])
            tail = torch.cat([x] * reps, dim=axis).narrow(axis, 0, extra)
            x = torch.cat([x, tail], dim=axis)
    return x


class RecCrysFormer(nn.Module):
    """Patterson map (+ template) and residue cubes -> normalised electron density.

    Parameters
    ----------
    cfg : ModelConfig
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        p, d = cfg.patch, cfg.dim
        self.stem = _conv(cfg.in_channels, cfg.channels, cfg.stem_kernel)
        self.embed = nn.Linear(cfg.channels * p**3, d)
        self.pos_grid = tuple(-(-n // p) for n in cfg.max_grid)
        self.pos = nn.Parameter(torch.zeros(1, d, *self.pos_grid))
        self.partial_stem = _conv(1, cfg.partial_channels, cfg.stem_kernel)
        self.partial_embed = nn.Linear(cfg.partial_channels * p**3, d)
        n_sub = (cfg.residue_cube // p) ** 3
        self.partial_pos = nn.Parameter(torch.zeros(1, n_sub, d))
        self.residue_pos = nn.Parameter(torch.zeros(cfg.max_residues, d))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d)
        self.unembed = nn.Linear(d, cfg.channels * p**3)
        chans = [cfg.channels] + [cfg.post_channels] * cfg.post_blocks
        self.post = nn.Sequential(
            *(ResBlock3d(chans[i], chans[i + 1], cfg.post_kernel) for i in range(cfg.post_blocks))
        )
        self.final = _conv(chans[-1], 1, cfg.final_kernel)
        for t in (self.pos, self.partial_pos, self.residue_pos):
            nn.init.trunc_normal_(t, std=0.02)

    # -- positions ------------------------------------------------------------------------
    def position_table(self, pgrid: tuple[int, int, int]) -> torch.Tensor:
        """Position embeddings of a patch grid, shape=(1, d, P, Q, R).

        Within the learned table (``max_grid``) it is the table's corner ``[:P, :Q, :R]``,
        as in the paper. A grid larger than the table along some axis is served by
        trilinear interpolation of the whole table to ``max(table, grid)`` per axis
        (``align_corners=True``: the table's first and last cells stay where they are),
        cropped the same way, so no grid is refused.
        """
        table = self.pos
        if any(a > b for a, b in zip(pgrid, self.pos_grid)):
            size = tuple(max(a, b) for a, b in zip(pgrid, self.pos_grid))
            table = F.interpolate(table, size=size, mode="trilinear", align_corners=True)
        return table[:, :, : pgrid[0], : pgrid[1], : pgrid[2]]

    # -- partial structures -------------------------------------------------------------
    def encode_residues(self, residues: torch.Tensor) -> torch.Tensor:
        """Partial-structure tokens of residue cubes.

        Parameters
        ----------
        residues : Tensor, shape=(b, J, 24, 24, 24)
            Residue densities (e/Å³), from :func:`crysbench.residue_density.residue_cubes`.

        Returns
        -------
        Tensor, shape=(b, J·(24/p)³, d)
        """
        cfg = self.cfg
        b, J = residues.shape[:2]
        if J > cfg.max_residues:
            raise ValueError(f"{J} residues > max_residues = {cfg.max_residues}")
        flat = residues.reshape(b * J, 1, *residues.shape[2:]) * cfg.residue_scale
        # Cubes repeat (20 residue types): run the conv once per distinct cube.
        uniq, inverse = torch.unique(flat.reshape(b * J, -1), dim=0, return_inverse=True)
        uniq = uniq.reshape(-1, *flat.shape[1:]).to(self.partial_stem.weight.dtype)
        tok = self.partial_embed(_patchify(self.partial_stem(uniq), cfg.patch))
        tok = tok[inverse] + self.partial_pos  # (b·J, n_sub, d)
        tok = tok.reshape(b, J, -1, cfg.dim) + self.residue_pos[:J, None, :]
        return tok.reshape(b, -1, cfg.dim)

    # -- forward ------------------------------------------------------------------------
    def forward(
        self,
        patterson: torch.Tensor,
        residues: torch.Tensor | None = None,
        template: torch.Tensor | None = None,
        residue_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the normalised density.

        Parameters
        ----------
        patterson : Tensor, shape=(b, 1, nu, nv, nw)
            Normalised Patterson maps (or already (b, 2, ...) with the template stacked).
        residues : Tensor, shape=(b, J, 24, 24, 24), optional
            Residue cubes; ``None`` (or J = 0) runs without partial structures.
        template : Tensor, shape=(b, 1, nu, nv, nw), optional
            Template map for recycling models (``in_channels == 2``).
        residue_mask : Tensor of bool, shape=(b, J), optional
            False for padded residues.

        Returns
        -------
        Tensor, shape=(b, 1, nu, nv, nw), values in (-1, 1)
        """
        cfg = self.cfg
        x = patterson if template is None else torch.cat([patterson, template], dim=1)
        if x.shape[1] != cfg.in_channels:
            raise ValueError(f"model expects {cfg.in_channels} input channels, got {x.shape[1]}")
        grid = tuple(x.shape[2:])
        p = cfg.patch
        pgrid = tuple(-(-n // p) for n in grid)
        h = self.stem(x)
        h = _wrap_pad(h, tuple(n * p for n in pgrid))
        tok = self.embed(_patchify(h, p))
        tok = tok + self.position_table(pgrid).flatten(2).transpose(1, 2)
        u, u_mask = None, None
        if residues is not None and residues.shape[1] > 0:
            u = self.encode_residues(residues)
            if residue_mask is not None:
                n_sub = (cfg.residue_cube // p) ** 3
                u_mask = residue_mask.repeat_interleave(n_sub, dim=1)
        for blk in self.blocks:
            tok = blk(tok, u, u_mask)
        h = _unpatchify(self.unembed(self.norm(tok)), cfg.channels, p, pgrid)
        h = h[:, :, : grid[0], : grid[1], : grid[2]]
        return torch.tanh(self.final(self.post(h)))


def grid_for_data(max_grid: tuple[int, int, int], shapes, patch: int = 4) -> tuple[int, int, int]:
    """``max_grid`` extended per axis to cover every grid shape in ``shapes``.

    Rounded up to a multiple of ``patch``; a config whose table already covers the data
    is returned unchanged (the paper's 88×72×60 stays 88×72×60).

    Examples
    --------
    >>> grid_for_data((88, 72, 60), [(90, 60, 36), (48, 80, 64)])
    (92, 80, 64)
    >>> grid_for_data((88, 72, 60), [(48, 40, 36)])
    (88, 72, 60)
    """
    out = [int(n) for n in max_grid]
    for shape in shapes:
        for i, n in enumerate(shape):
            out[i] = max(out[i], -(-int(n) // patch) * patch)
    return (out[0], out[1], out[2])


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def expected_parameters(cfg: ModelConfig) -> dict[str, int]:
    """Parameter count of each part, computed from the architecture by hand.

    Returns
    -------
    dict
        Per-part counts and ``"total"``.
    """
    p, d, c, cp = cfg.patch, cfg.dim, cfg.channels, cfg.partial_channels
    k3 = cfg.stem_kernel**3
    inner = cfg.heads * cfg.head_dim

    def lin(i: int, o: int) -> int:
        return i * o + o

    def conv(i: int, o: int, k: int) -> int:
        return i * o * k**3 + o

    pos_cells = math.prod(-(-n // p) for n in cfg.max_grid)
    layer = (
        3 * 2 * d  # three LayerNorms
        + lin(d, 3 * inner) + lin(d, 2 * inner) + lin(inner, d)  # attention
        + lin(d, cfg.ffn_dim) + lin(cfg.ffn_dim, d)  # FFN
    )  # fmt: skip
    chans = [c] + [cfg.post_channels] * cfg.post_blocks
    post = 0
    for i in range(cfg.post_blocks):
        a, b = chans[i], chans[i + 1]
        post += 2 * a + conv(a, b, cfg.post_kernel) + 2 * b + conv(b, b, cfg.post_kernel)
        post += conv(a, b, 1) if a != b else 0
    parts = {
        "stem": cfg.in_channels * c * k3 + c,
        "embed": lin(c * p**3, d),
        "pos": d * pos_cells,
        "partial_stem": 1 * cp * k3 + cp,
        "partial_embed": lin(cp * p**3, d),
        "partial_pos": (cfg.residue_cube // p) ** 3 * d + cfg.max_residues * d,
        "transformer": cfg.depth * layer,
        "norm_unembed": 2 * d + lin(d, c * p**3),
        "post": post + conv(chans[-1], 1, cfg.final_kernel),
    }
    parts["total"] = sum(parts.values())
    return parts
