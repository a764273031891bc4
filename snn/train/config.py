"""The training configuration: the ``[train]`` table of a study file as frozen, validated dataclasses.

Every section validates itself when it is constructed, so a config that exists is a valid one. Errors are
``snn.errors.UserError`` in ``snn.validation``'s style, naming the dotted key relative to the study file
(``train.loss.alpha must be >= 0, got -1.0``). Missing keys take the defaults below, which are the paper's
Yin-Yang 2-phase setting (Tables 1-3); unknown keys are errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field, fields, is_dataclass
from typing import Any

from snn import validation as c
from snn._loss_names import LOSS_NAMES, SP_NORMALIZATIONS
from snn.errors import UserError

__all__ = [
    "TrainConfig", "NetworkConfig", "DataConfig", "LossConfig", "ScheduleConfig", "PhaseConfig",
    "OptimizerConfig", "LOSS_NAMES", "DATASETS",
]

# (inputs, classes) of each dataset, to catch a network that does not fit its data before training starts.
DATASETS = {"yinyang": (5, 3), "mnist": (784, 10)}
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def _set(obj: Any, **values: Any) -> None:
    for name, value in values.items():
        object.__setattr__(obj, name, value)  # frozen dataclass: normalise once, in __post_init__


class _Section:
    """from_dict/to_dict shared by all sections."""

    KEY = "train"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], key: str | None = None):
        key = key or cls.KEY
        d = c.table(d, key)
        c.check_keys(d, [f.name for f in fields(cls)], key)
        return cls(**d, **({"key": key} if cls is PhaseConfig else {}))

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts, lists and scalars (JSON-ready; a phase's unset alpha/eta is None)."""
        return _plain(self)


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _section(value: Any, cls: type, key: str) -> Any:
    return value if isinstance(value, cls) else cls.from_dict(value, key)


@dataclass(frozen=True)
class NetworkConfig(_Section):
    KEY = "train.network"
    sizes: tuple[int, ...] = (5, 40, 25, 13, 3)
    init_ranges: tuple[tuple[float, float], ...] = ((1.0, 3.0), (0.2, 1.0), (0.0, 1.0), (0.0, 1.0))
    max_spikes: int | tuple[int, ...] = 32
    tau_m: float = 20.0
    tau_s: float = 5.0
    threshold: float = 1.0
    resistance: float = 1.0
    t_end: float = 30.0
    dtype: str = "float64"

    def __post_init__(self) -> None:
        k = self.KEY
        sizes = c.sequence(self.sizes, f"{k}.sizes", min_length=2)
        sizes = tuple(c.integer(n, f"{k}.sizes[{i}]", min=1) for i, n in enumerate(sizes))
        n_layers = len(sizes) - 1
        ranges = c.sequence(self.init_ranges, f"{k}.init_ranges", length=n_layers)
        init_ranges = []
        for i, pair in enumerate(ranges):
            lo, hi = (c.number(v, f"{k}.init_ranges[{i}]") for v in c.sequence(pair, f"{k}.init_ranges[{i}]", length=2))
            if lo > hi:
                raise c.invalid(f"{k}.init_ranges[{i}]", "be [lo, hi] with lo <= hi", f"[{lo}, {hi}]", "swap the two bounds")
            init_ranges.append((lo, hi))
        if isinstance(self.max_spikes, (list, tuple)):
            seq = c.sequence(self.max_spikes, f"{k}.max_spikes", length=n_layers)
            max_spikes = tuple(c.integer(m, f"{k}.max_spikes[{i}]", min=1) for i, m in enumerate(seq))
        else:
            max_spikes = c.integer(self.max_spikes, f"{k}.max_spikes", min=1)
        _set(self, sizes=sizes, init_ranges=tuple(init_ranges), max_spikes=max_spikes,
             tau_m=c.number(self.tau_m, f"{k}.tau_m", min=0, min_open=True),
             tau_s=c.number(self.tau_s, f"{k}.tau_s", min=0, min_open=True),
             threshold=c.number(self.threshold, f"{k}.threshold", min=0, min_open=True),
             resistance=c.number(self.resistance, f"{k}.resistance", min=0, min_open=True),
             t_end=c.number(self.t_end, f"{k}.t_end", min=0, min_open=True),
             dtype=c.string(self.dtype, f"{k}.dtype", choices=("float64", "float32")))


@dataclass(frozen=True)
class DataConfig(_Section):
    KEY = "train.data"
    dataset: str = "yinyang"
    root: str = ""  # MNIST directory in torchvision's layout; "" = the user cache
    validation_size: int = 5000  # MNIST only: held out from the 60 000 training images
    train_subset: int = 0  # 0 = all training samples; N > 0 = the first N (smoke runs)
    batch_size: int = 32
    augment: bool = True  # MNIST only

    def __post_init__(self) -> None:
        k = self.KEY
        _set(self, dataset=c.string(self.dataset, f"{k}.dataset", choices=tuple(DATASETS)),
             root=c.string(self.root, f"{k}.root"),
             validation_size=c.integer(self.validation_size, f"{k}.validation_size", min=1, max=59_999),
             train_subset=c.integer(self.train_subset, f"{k}.train_subset", min=0),
             batch_size=c.integer(self.batch_size, f"{k}.batch_size", min=1),
             augment=c.boolean(self.augment, f"{k}.augment"))


@dataclass(frozen=True)
class LossConfig(_Section):
    KEY = "train.loss"
    alpha: float = 3.5e-3
    eta: float = 0.4  # ms; unused by L_W
    tau_0: float = 0.5
    tau_1: float = 6.4
    sp_normalization: str = "neurons"  # SP divided by the number of neurons; see snn.losses.SP_NORMALIZATIONS

    def __post_init__(self) -> None:
        k = self.KEY
        _set(self, alpha=c.number(self.alpha, f"{k}.alpha", min=0), eta=c.number(self.eta, f"{k}.eta", min=0),
             tau_0=c.number(self.tau_0, f"{k}.tau_0", min=0, min_open=True),
             tau_1=c.number(self.tau_1, f"{k}.tau_1", min=0, min_open=True),
             sp_normalization=c.string(self.sp_normalization, f"{k}.sp_normalization", choices=SP_NORMALIZATIONS))


@dataclass(frozen=True)
class PhaseConfig(_Section):
    """One phase's loss and learning rate. ``alpha``/``eta``, when set, replace ``[train.loss]``'s for this
    phase only (the paper uses one pair for both phases, the default): a search can then vary phase 2's spike
    penalty while phase 1 stays shared, which is what phase-1 branching needs to spread a front from one
    phase-1 network."""

    KEY = "train.schedule.phase"
    loss: str = "L_A"
    lr: float = 5e-3
    alpha: float | None = None  # None: [train.loss] alpha
    eta: float | None = None  # ms; None: [train.loss] eta
    key: InitVar[str] = "train.schedule.phase"  # where this phase sits in the study file, for messages

    def __post_init__(self, key: str) -> None:
        _set(self, loss=c.string(self.loss, f"{key}.loss", choices=LOSS_NAMES),
             lr=c.number(self.lr, f"{key}.lr", min=0, min_open=True),
             alpha=None if self.alpha is None else c.number(self.alpha, f"{key}.alpha", min=0),
             eta=None if self.eta is None else c.number(self.eta, f"{key}.eta", min=0))

    def loss_weights(self, loss: LossConfig) -> tuple[float, float]:
        """``(alpha, eta)`` this phase trains with."""
        return (loss.alpha if self.alpha is None else self.alpha, loss.eta if self.eta is None else self.eta)


@dataclass(frozen=True)
class ScheduleConfig(_Section):
    """Phase 1 runs epochs [0, switch_epoch), phase 2 the rest; switch_epoch = epochs means phase 1 only
    and switch_epoch = 0 means phase 2 only. Each phase starts at its own lr, decayed by lr_decay per epoch.
    A switch_epoch after the last epoch is an error: phase 2 would silently never run."""

    KEY = "train.schedule"
    epochs: int = 160
    switch_epoch: int = 100
    lr_decay: float = 0.95
    phase1: PhaseConfig = field(default_factory=lambda: PhaseConfig("L_A", 5e-3))
    phase2: PhaseConfig = field(default_factory=lambda: PhaseConfig("L", 2e-4))

    def __post_init__(self) -> None:
        k = self.KEY
        _set(self, epochs=c.integer(self.epochs, f"{k}.epochs", min=1),
             switch_epoch=c.integer(self.switch_epoch, f"{k}.switch_epoch", min=0),
             lr_decay=c.number(self.lr_decay, f"{k}.lr_decay", min=0, min_open=True, max=1),
             phase1=_section(self.phase1, PhaseConfig, f"{k}.phase1"),
             phase2=_section(self.phase2, PhaseConfig, f"{k}.phase2"))
        if self.switch_epoch > self.epochs:
            raise ValueError(f"{k}.switch_epoch = {self.switch_epoch} is after the last epoch ({k}.epochs = {self.epochs}), "
                             f"so phase 2 would never run; set switch_epoch <= epochs (switch_epoch = {self.epochs} "
                             f"trains phase 1 only)")

    def phase_of(self, epoch: int) -> int:
        return 1 if epoch < self.switch_epoch else 2

    def phase(self, phase: int) -> PhaseConfig:
        return self.phase1 if phase == 1 else self.phase2

    def lr_at(self, epoch: int) -> float:
        phase = self.phase_of(epoch)
        start = 0 if phase == 1 else self.switch_epoch
        return self.phase(phase).lr * self.lr_decay ** (epoch - start)


@dataclass(frozen=True)
class OptimizerConfig(_Section):
    KEY = "train.optimizer"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def __post_init__(self) -> None:
        k = self.KEY
        betas = c.sequence(self.betas, f"{k}.betas", length=2)
        _set(self, betas=tuple(c.number(b, f"{k}.betas[{i}]", min=0, max=1, max_open=True) for i, b in enumerate(betas)),
             eps=c.number(self.eps, f"{k}.eps", min=0))


@dataclass(frozen=True)
class TrainConfig(_Section):
    seed: int = 0
    device: str = "cpu"
    network: NetworkConfig = field(default_factory=NetworkConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)

    def __post_init__(self) -> None:
        device = c.string(self.device, "train.device")
        if not _DEVICE.fullmatch(device):
            raise c.invalid("train.device", "be 'cpu', 'cuda' or 'cuda:N'", repr(device))
        # numpy's legacy seeding takes 32 bits; the same seed feeds torch, numpy and random.
        _set(self, seed=c.integer(self.seed, "train.seed", min=0, max=2**32 - 1), device=device,
             network=_section(self.network, NetworkConfig, NetworkConfig.KEY),
             data=_section(self.data, DataConfig, DataConfig.KEY),
             loss=_section(self.loss, LossConfig, LossConfig.KEY),
             schedule=_section(self.schedule, ScheduleConfig, ScheduleConfig.KEY),
             optimizer=_section(self.optimizer, OptimizerConfig, OptimizerConfig.KEY))
        n_in, n_classes = DATASETS[self.data.dataset]
        sizes = self.network.sizes
        if (sizes[0], sizes[-1]) != (n_in, n_classes):
            raise c.invalid("train.network.sizes", f"start with {n_in} inputs and end with {n_classes} outputs for "
                            f"train.data.dataset = {self.data.dataset!r}", repr(list(sizes)))

    def with_overrides(self, overrides: Mapping[str, Any]) -> TrainConfig:
        """A copy with dotted keys relative to ``[train]`` replaced, e.g. ``{"loss.alpha": 1e-3,
        "schedule.phase1.lr": 1e-3}``; all overrides are applied before the result is validated, so
        ``network.sizes`` and ``network.init_ranges`` can change together."""
        d = self.to_dict()
        for dotted, value in overrides.items():
            parts = c.string(dotted, "override key").split(".")
            node, path = d, "train"
            for part in parts[:-1]:
                if not isinstance(node, dict) or part not in node or not isinstance(node[part], dict):
                    tables = ", ".join(k for k, v in node.items() if isinstance(v, dict)) if isinstance(node, dict) else ""
                    raise UserError(f"unknown key train.{dotted}: {path} has no table {part!r}"
                                    + (f"; tables in {path}: {tables}" if tables else ""))
                node, path = node[part], f"{path}.{part}"
            c.check_keys({parts[-1]: value}, list(node), path)
            node[parts[-1]] = value
        return TrainConfig.from_dict(d)

    def differences(self, other: TrainConfig) -> list[str]:
        """Dotted keys whose values differ between the two configs."""
        a, b = c.flatten(self.to_dict(), "train"), c.flatten(other.to_dict(), "train")
        return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
