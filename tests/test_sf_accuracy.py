"""Structure factors of recipes @2 against a direct summation, shell by shell.

Target (issue 16): amplitude R ≤ 0.5 % and mean phase error ≤ 0.3° in every one of
ten equal-count resolution shells. The @1 settings miss it in the outer shells.
"""

import gemmi
import numpy as np
import pytest

import crysbench
from crysbench.maps import inv_d2, shell_errors


def direct_sf(ex):
    """Independent oracle: F(h) = Σ f_j(s) exp(-B s²/4) exp(2πi h·x_j), all reflections."""
    frac = np.array([ex.cell.fractionalize(gemmi.Position(*p)).tolist() for p in ex.positions])
    s2 = inv_d2(ex.cell, ex.hkl)
    stol2 = s2 / 4.0
    F = np.zeros(len(ex.hkl), dtype=np.complex128)
    h = ex.hkl.astype(np.float64)
    for el in np.unique(ex.elements):
        c = gemmi.Element(str(el)).it92.get_coefs()
        f = c[8] + sum(ai * np.exp(-bi * stol2) for ai, bi in zip(c[0:4], c[4:8]))
        f = f * np.exp(-20.0 * stol2)
        F += f * np.exp(2j * np.pi * (h @ frac[ex.elements == el].T)).sum(axis=1)
    return F, s2


def _worst(variant, entries, n=3):
    worst = np.zeros(4)
    for pid in ("3HSY", "1A8O"):
        for ex in list(crysbench.generate_examples(entries[pid], variant))[:n]:
            ref, s2 = direct_sf(ex)
            worst = np.maximum(worst, shell_errors(ex.F.astype(np.complex128), ref, s2).max(0))
    return worst


@pytest.mark.parametrize("variant", ["const-res@2", "var-res@2"])
def test_v2_every_shell_within_target(entries, variant):
    _, r, dphi, wdphi = _worst(variant, entries)
    assert r <= 0.005, r
    assert dphi <= 0.3, dphi
    assert wdphi <= 0.3, wdphi


def test_v1_settings_miss_the_target_in_outer_shells(entries):
    """Documents why @2 changed the setting (and that the test can fail)."""
    _, r, dphi, _ = _worst("var-res@1", entries, n=2)
    assert r > 0.01 and dphi > 0.5
