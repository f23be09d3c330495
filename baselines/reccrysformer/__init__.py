"""RecCrysFormer reference model (SPEC §7): ``python -m baselines.reccrysformer COMMAND``.

Modules: :mod:`.model` (network and configs), :mod:`.attention` (one-way exact / Nyström
attention), :mod:`.train` (loss, training loop, checkpoints), :mod:`.recycle` (templates,
refined maps, weight transfer), :mod:`.predict` (evaluator-format predictions), :mod:`.data`
(store or bundled splits). Importing this package does not import torch.
"""

__all__: list[str] = []
