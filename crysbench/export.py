"""Exports that crystallographic tools open: PDB, mmCIF, MTZ, CCP4 maps; HDF5. (io)

Examples
--------
>>> import crysbench, tempfile
>>> from crysbench.export import export_example
>>> ex = next(crysbench.generate_examples(crysbench.bundled_entries()["3JQH"], "const-res"))
>>> paths = export_example(ex, tempfile.mkdtemp())
>>> sorted(p.name for p in paths)  # doctest: +NORMALIZE_WHITESPACE
['3JQH_1.pd_1.cif', '3JQH_1.pd_1.density.ccp4', '3JQH_1.pd_1.mtz',
 '3JQH_1.pd_1.patterson.ccp4', '3JQH_1.pd_1.pdb']
"""

from __future__ import annotations

from pathlib import Path

import gemmi
import numpy as np

__all__ = ["write_mtz", "write_ccp4_map", "export_example", "export_hdf5"]


def write_mtz(path: str | Path, hkl: np.ndarray, F: np.ndarray, cell: gemmi.UnitCell) -> Path:
    """MTZ with columns FC (amplitude, type F) and PHIC (degrees, type P), space group P 1."""
    mtz = gemmi.Mtz(with_base=True)
    mtz.spacegroup = gemmi.SpaceGroup("P 1")
    mtz.set_cell_for_all(cell)
    mtz.add_dataset("crysbench")
    mtz.add_column("FC", "F")
    mtz.add_column("PHIC", "P")
    F = np.asarray(F).astype(np.complex128)
    data = np.column_stack([hkl.astype(np.float32), np.abs(F), np.degrees(np.angle(F))])
    mtz.set_data(data.astype(np.float32))
    mtz.history = ["crysbench export"]
    mtz.write_to_file(str(path))
    return Path(path)


def write_ccp4_map(path: str | Path, grid: np.ndarray, cell: gemmi.UnitCell) -> Path:
    """A CCP4/MRC map of a full-cell P1 grid indexed [u, v, w]."""
    m = gemmi.Ccp4Map()
    m.grid = gemmi.FloatGrid(
        np.ascontiguousarray(grid, dtype=np.float32), cell, gemmi.SpaceGroup("P 1")
    )
    m.update_ccp4_header()
    m.write_ccp4_map(str(path))
    return Path(path)


def export_example(ex, folder: str | Path) -> list[Path]:
    """Write ``<id>.pdb``, ``<id>.cif``, ``<id>.mtz`` and both maps as CCP4 files.

    Raises
    ------
    ValueError
        An id that is not a safe file name (:func:`crysbench.names.safe_id`); nothing is
        written then.
    """
    from crysbench.names import id_path

    folder = Path(folder)
    base = id_path(folder, ex.id)  # an id like "../x" never writes outside the folder
    folder.mkdir(parents=True, exist_ok=True)
    st = ex.structure
    st.setup_cell_images()
    out = [Path(f"{base}.pdb"), Path(f"{base}.cif")]
    st.write_pdb(str(out[0]))
    st.make_mmcif_document().write_file(str(out[1]))
    out.append(write_mtz(f"{base}.mtz", ex.hkl, ex.F, ex.cell))
    out.append(write_ccp4_map(f"{base}.density.ccp4", ex.density, ex.cell))
    out.append(write_ccp4_map(f"{base}.patterson.ccp4", ex.patterson, ex.cell))
    return out


def export_hdf5(store, split: str, path: str | Path) -> Path:
    """One HDF5 file with a group per example of a split (maps in physical units)."""
    try:
        import h5py
    except ImportError:
        raise ImportError("HDF5 export needs h5py: pip install 'crysbench[hdf5]'") from None
    from crysbench.load import SplitDataset, bucket_batches
    from crysbench.names import safe_id

    ds = SplitDataset(store, split, normalize=None)
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.attrs["variant"] = store.variant
        f.attrs["fingerprint"] = store.fingerprint
        f.attrs["split"] = split
        for batch in bucket_batches(ds.buckets, 64, shuffle=False):
            b = ds.get_batch(batch)
            for i, eid in enumerate(b["id"]):
                g = f.create_group(safe_id(eid))
                g.create_dataset("patterson", data=b["patterson"][i], compression="gzip")
                g.create_dataset("density", data=b["density"][i], compression="gzip")
                g.attrs["cell"] = b["cell"][i]
                g.attrs["dmin"] = b["dmin"][i]
                g.attrs["sequence"] = b["sequence"][i]
    return path
