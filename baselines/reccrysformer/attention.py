"""One-way attention of RecCrysFormer: map tokens attend to [map; partial-structure] tokens.

The paper (Section 3, Fig. 3) concatenates the keys and values of the Patterson-map
tokens ``X`` (projections ``W_k``, ``W_v``) with those of the partial-structure tokens
``U`` (their own projections ``W_k'``, ``W_v'``); only ``X`` makes queries, so the
partial-structure tokens are never updated ("one-way"). Two kernels:

* ``"exact"``: :func:`torch.nn.functional.scaled_dot_product_attention` (flash /
  memory-efficient kernels on GPU).
* ``"nystrom"``: Nyström approximation (Xiong et al. 2021) with ``m`` landmarks taken
  as segment means of the queries and of the concatenated keys, and the iterative
  Moore-Penrose pseudo-inverse; linear in the number of tokens. Falls back to exact
  attention when there are no more keys than landmarks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["OneWayAttention", "nystrom_attention", "landmarks"]


def landmarks(x: torch.Tensor, m: int) -> torch.Tensor:
    """Segment means of ``x`` (..., n, d) along n into ``m`` landmarks (..., m, d).

    Segments are the adaptive-pooling bins, so any ``n >= m`` works without padding.
    """
    lead = x.shape[:-2]
    n, d = x.shape[-2:]
    y = x.reshape(-1, n, d).transpose(1, 2)  # (b, d, n)
    y = F.adaptive_avg_pool1d(y, m).transpose(1, 2)
    return y.reshape(*lead, m, d)


def _pinv(a: torch.Tensor, iters: int = 6) -> torch.Tensor:
    """Iterative Moore-Penrose pseudo-inverse of row-stochastic matrices (Nyströmformer)."""
    eye = torch.eye(a.shape[-1], device=a.device, dtype=a.dtype)
    col = a.abs().sum(dim=-1).amax(dim=-1, keepdim=True)
    row = a.abs().sum(dim=-2).amax(dim=-1, keepdim=True)
    z = a.transpose(-1, -2) / (col * row).unsqueeze(-1)
    for _ in range(iters):
        az = a @ z
        z = 0.25 * z @ (13 * eye - az @ (15 * eye - az @ (7 * eye - az)))
    return z


def nystrom_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_landmarks: int = 64,
    pinv_iters: int = 6,
) -> torch.Tensor:  # fmt: skip
    """Nyström approximation of ``softmax(q kᵀ / √d) v``.

    Parameters
    ----------
    q : Tensor, shape=(b, h, n, d)
    k, v : Tensor, shape=(b, h, s, d)
    num_landmarks : int
    pinv_iters : int

    Returns
    -------
    Tensor, shape=(b, h, n, d)
    """
    m = num_landmarks
    if k.shape[-2] <= m or q.shape[-2] <= m:
        return F.scaled_dot_product_attention(q, k, v)
    scale = q.shape[-1] ** -0.5
    q = q * scale
    ql = landmarks(q, m)
    kl = landmarks(k, m)
    k1 = torch.softmax(q @ kl.transpose(-1, -2), dim=-1)  # (n, m)
    k2 = torch.softmax(ql @ kl.transpose(-1, -2), dim=-1)  # (m, m)
    k3 = torch.softmax(ql @ k.transpose(-1, -2), dim=-1)  # (m, s)
    return (k1 @ _pinv(k2.float(), pinv_iters).to(k1.dtype)) @ (k3 @ v)


class OneWayAttention(nn.Module):
    """Multi-head attention of map tokens over [map tokens; partial-structure tokens].

    Parameters
    ----------
    dim : int
        Token width d.
    heads : int
        Number of heads H.
    head_dim : int
        Width per head d_h (``heads * head_dim`` need not equal ``dim``).
    kind : {"exact", "nystrom"}
    num_landmarks : int
        Nyström landmarks.
    """

    def __init__(
        self, dim: int, heads: int, head_dim: int, kind: str = "exact", num_landmarks: int = 64
    ) -> None:
        super().__init__()
        if kind not in ("exact", "nystrom"):
            raise ValueError(f"attention must be 'exact' or 'nystrom', not {kind!r}")
        inner = heads * head_dim
        self.heads, self.head_dim, self.kind, self.num_landmarks = (
            heads,
            head_dim,
            kind,
            num_landmarks,
        )
        self.qkv = nn.Linear(dim, 3 * inner)  # W_q, W_k, W_v for map tokens
        self.kv_partial = nn.Linear(dim, 2 * inner)  # W_k', W_v' for partial-structure tokens
        self.out = nn.Linear(inner, dim)  # W_o

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.view(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(
        self, x: torch.Tensor, u: torch.Tensor | None = None, u_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attend.

        Parameters
        ----------
        x : Tensor, shape=(b, n, dim)
            Map tokens (queries, and keys/values).
        u : Tensor, shape=(b, s, dim), optional
            Partial-structure tokens (keys/values only).
        u_mask : Tensor of bool, shape=(b, s), optional
            False for padded partial-structure tokens (exact attention only).

        Returns
        -------
        Tensor, shape=(b, n, dim)
        """
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        mask = None
        if u is not None and u.shape[1] > 0:
            ku, vu = self.kv_partial(u).chunk(2, dim=-1)
            k = torch.cat([k, ku], dim=1)
            v = torch.cat([v, vu], dim=1)
            if u_mask is not None:
                keep = torch.ones(x.shape[0], x.shape[1], dtype=torch.bool, device=x.device)
                mask = torch.cat([keep, u_mask.to(torch.bool)], dim=1)[:, None, None, :]
        q, k, v = self._split(q), self._split(k), self._split(v)
        if self.kind == "nystrom" and mask is None:
            o = nystrom_attention(q, k, v, self.num_landmarks)
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        b, h, n, d = o.shape
        return self.out(o.transpose(1, 2).reshape(b, n, h * d))
