"""hdgan from Python: the solvable high-dimensional model of GAN training.

The functions mirror the ``hdgan`` command line's experiments. A config is a dict, a
TOML string, or a path to a TOML file (see ``configs/reference.toml`` in the repository
for every key). Results are NumPy arrays with column names (:class:`Table`), with
``to_pandas()`` when pandas is installed.

Quickstart::

    import hdgan
    r = hdgan.run(seed=1, engine="gram")      # Figure 1's successful run (embedded default)
    r.sim["P11"], r.ode["P11"]                 # columns by name
    r.phases["ode"]["phase"]                   # 'Success'
    r.plot()                                   # matplotlib, when installed
    path = hdgan.ode({"model": {...}, "init": {...}, "sim": {...}}, t=[0, 10, 100])

Long calls release the GIL, show progress (tqdm, when installed) and stop cleanly on
KeyboardInterrupt. Bad input raises :class:`ConfigError` (a ``ValueError``) whose message
names the config key and the rule broken, as the command line's does; a request whose
memory estimate exceeds the machine's raises :class:`ResourceError` (a ``MemoryError``)
naming the keys to reduce; any other failure (a diverging run) raises ``RuntimeError``.
No call raises a ``BaseException`` other than ``KeyboardInterrupt``: a bug in the native
library is a ``RuntimeError`` too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _hdgan
from ._hdgan import ConfigError, ResourceError

__all__ = [
    "ConfigError",
    "ResourceError",
    "Table",
    "RunResult",
    "Output",
    "run",
    "ode",
    "claim1",
    "fixed_points",
    "modes",
    "phase_map",
    "PhaseMapResult",
    "measure",
    "MeasureResult",
    "train_data",
    "TrainDataResult",
    "load",
    "__version__",
]

__version__: str = _hdgan.build_info()[0]
#: The git revision the native library was built from ("unknown" outside a checkout).
git_revision: str = _hdgan.build_info()[1]

Config = Union[None, str, "os.PathLike[str]", Mapping[str, Any]]
Progress = Union[bool, Callable[[str, int, int, str], None], None]


class Table:
    """A 2-D float64 array with named columns.

    ``table["P11"]`` is a column, ``table.data`` the whole array (rows x columns),
    ``table.columns`` the names, ``np.asarray(table)`` the array, ``table.to_pandas()``
    a ``pandas.DataFrame`` (pandas is optional).
    """

    def __init__(self, data: np.ndarray, columns: Sequence[str]):
        data = np.asarray(data, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != len(columns):
            raise ValueError(
                f"a table needs a 2-D array with {len(columns)} columns, got shape {data.shape}"
            )
        self.data: np.ndarray = data
        self.columns: List[str] = list(columns)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.data[:, self.columns.index(name)]
        except ValueError:
            raise KeyError(f"no column {name!r}; columns: {', '.join(self.columns)}") from None

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __len__(self) -> int:
        return self.data.shape[0]

    @property
    def shape(self) -> Tuple[int, int]:
        """(rows, columns)."""
        return self.data.shape  # type: ignore[return-value]

    def to_pandas(self) -> Any:
        """The table as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas() needs pandas: pip install pandas") from e
        return pd.DataFrame(self.data, columns=self.columns)

    def __repr__(self) -> str:
        return f"Table({self.data.shape[0]} rows x {len(self.columns)}: {', '.join(self.columns)})"


def _toml_loads(text: str) -> Dict[str, Any]:
    try:
        import tomllib  # Python >= 3.11
    except ImportError:  # pragma: no cover - Python 3.9 / 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            return {"_toml": text}
    return tomllib.loads(text)


def _drop_none(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _drop_none(v) for k, v in x.items() if v is not None}
    if isinstance(x, (list, tuple)):
        return [_drop_none(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def _config_arg(config: Config) -> Tuple[str, str]:
    """(kind, value) for the native functions."""
    if config is None:
        return "default", ""
    if isinstance(config, Mapping):
        return "json", json.dumps(_drop_none(config))
    if isinstance(config, os.PathLike):
        return "path", os.fspath(config)
    if isinstance(config, str):
        if os.path.isfile(config):
            return "path", config
        if "=" in config or "\n" in config or "[" in config:
            return "toml", config
        raise ConfigError(f"config {config!r}: no such file, and not TOML text")
    raise TypeError(
        f"config must be None, a dict, a TOML string or a path, not {type(config).__name__}"
    )


class _Bars:
    """Progress to tqdm bars, one per stage."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self._bars: Dict[str, Any] = {}

    def __call__(self, what: str, done: int, total: int, unit: str) -> None:
        bar = self._bars.get(what)
        if bar is None:
            bar = self._bars[what] = self._tqdm(total=total, desc=what, unit=f" {unit}")
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def _progress_callback(progress: Progress) -> Tuple[Optional[Callable[..., None]], Any]:
    if progress is None or progress is False:
        return None, None
    if progress is True:
        try:
            bars = _Bars()
        except ImportError:
            return None, None
        return bars, bars
    if callable(progress):
        return progress, None
    raise TypeError("progress must be True, False, None or a callable(what, done, total, unit)")


def _with_progress(progress: Progress, call: Callable[[Any], Any]) -> Any:
    """Runs ``call(callback)`` with the progress callback of ``progress``, closing any
    tqdm bars it opened, whatever happens."""
    cb, bars = _progress_callback(progress)
    try:
        return call(cb)
    finally:
        if bars is not None:
            bars.close()


def _check_count(name: str, value: Optional[int]) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"argument `{name}` must be a positive integer, got {value!r}")
    return int(value)


class RunResult:
    """What :func:`run` returns.

    Attributes:
        sim: the simulation, one row per (member, recorded time): columns ``member``,
            ``t`` and the overlaps (``P11``, ..., ``q1``, ..., ``z``), as ``sim.npy``.
        ode: the limiting ODE at the recorded times (columns ``t`` and the overlaps), or
            None when the config turns it off.
        ode_sd: the linear-noise standard deviation of each overlap at the config's n
            (the band ODE +- 2 sd), when the run computes it.
        phases: the phase verdicts of member 0 and of the ODE (``{"sim_member0": {...},
            "ode": {...}}``, each with ``phase``, ``q_rms``, ``feature_cosine``).
        config: the validated configuration (a dict); ``config_toml`` its TOML text.
        provenance: hdgan's version, git revision, the seed and the thread count.
        sim_seconds: wall-clock seconds of the simulation.
    """

    def __init__(self, raw: Dict[str, Any]):
        names = list(raw["names"])
        self.sim: Table = Table(raw["sim"], ["member", "t"] + names)
        self.ode: Optional[Table] = Table(raw["ode"], ["t"] + names) if "ode" in raw else None
        self.ode_sd: Optional[Table] = (
            Table(raw["ode_sd"], ["t"] + names) if "ode_sd" in raw else None
        )
        self.phases: Dict[str, Any] = json.loads(raw["phases"])
        self.config_toml: str = raw["config"]
        self.config: Dict[str, Any] = _toml_loads(raw["config"])
        self.provenance: Dict[str, Any] = json.loads(raw["provenance"])
        self.sim_seconds: float = float(raw["sim_seconds"])

    def member(self, k: int) -> Table:
        """Member ``k``'s trajectory (columns ``t`` and the overlaps)."""
        rows = self.sim.data[self.sim.data[:, 0] == k]
        if rows.shape[0] == 0:
            raise IndexError(f"no member {k}")
        return Table(rows[:, 1:], self.sim.columns[1:])

    def plot(self, ax: Any = None) -> Any:
        """Figure 1's picture: the generator's cosines ``P_ii / sqrt(S_ii)`` and the
        discriminator's ``|q_i| / sqrt(z)`` over time, simulation (member 0, solid) and
        ODE (dashed). Needs matplotlib; returns the Axes."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("plot() needs matplotlib: pip install matplotlib") from e
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4.5))
        d = sum(1 for c in self.sim.columns if c.startswith("q"))
        m0 = self.member(0)

        def cosines(tab: Table) -> Dict[str, np.ndarray]:
            out = {}
            for i in range(1, d + 1):
                p, s = f"P{i}{i}", f"S{i}{i}"
                if p in tab.columns and s in tab.columns:
                    out[f"P{i}{i} cos"] = tab[p] / np.sqrt(tab[s])
                if f"q{i}" in tab.columns:
                    out[f"|q{i}|"] = np.abs(tab[f"q{i}"]) / np.sqrt(tab["z"])
            return out

        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, (name, y) in enumerate(cosines(m0).items()):
            ax.plot(m0["t"], y, color=colors[k % len(colors)], label=f"{name} (sim)")
        if self.ode is not None:
            for k, (name, y) in enumerate(cosines(self.ode).items()):
                ax.plot(self.ode["t"], y, "--", color=colors[k % len(colors)], label=f"{name} (ODE)")
        ax.set_xlabel("t")
        ax.set_ylabel("cosine")
        ax.legend(fontsize="small", ncol=2)
        return ax

    def __repr__(self) -> str:
        ph = {k: (v or {}).get("phase") for k, v in self.phases.items()}
        return f"RunResult(sim {self.sim.shape}, ode {None if self.ode is None else self.ode.shape}, phases {ph})"


def run(
    config: Config = None,
    seed: Optional[int] = None,
    engine: Optional[str] = None,
    members: Optional[int] = None,
    threads: Optional[int] = None,
    progress: Progress = True,
) -> RunResult:
    """Simulates a config's ensemble with online SGDA and solves its limiting ODE.

    Args:
        config: a dict, a TOML string, or a path to a TOML file; None for the embedded
            default (Figure 1's successful run, n = 5000, T = 200).
        seed: overrides the config's ``seed``. The same config and seed give the same
            numbers as ``hdgan run``, bit for bit, whatever the thread count.
        engine: overrides ``sim.engine``: ``"full"`` (the step on n-vectors),
            ``"gram"`` (the exact law of the overlaps, O(d^3) per step) or ``"multi"``
            (the p-feature literal step, which ``"full"`` runs for p > 1 and the
            orthonormal model). A model the engine does not simulate raises
            ``ConfigError`` naming the key to change.
        members: overrides ``sim.members`` (ensemble size).
        threads: worker threads (default: one per core).
        progress: True for tqdm bars (when tqdm is installed), False for none, or a
            callable ``f(what, done, total, unit)``.

    Returns:
        A :class:`RunResult`.

    Raises:
        ConfigError: bad config or argument (the message names the key and the rule).
        ResourceError: the run's memory estimate exceeds the memory available (the
            message names the keys that drive it).
        RuntimeError: the run failed (it diverged: the message gives the time and the
            quantity).
        KeyboardInterrupt: interrupted; the work stops at its next record.
    """
    threads = _check_count("threads", threads)
    members = _check_count("members", members)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ConfigError(f"argument `seed` must be a non-negative integer, got {seed!r}")
    if engine is not None and not isinstance(engine, str):
        raise ConfigError(f"argument `engine` must be a string, got {engine!r}")
    kind, value = _config_arg(config)
    s = None if seed is None else int(seed)
    raw = _with_progress(progress, lambda cb: _hdgan.run(kind, value, s, engine, members, threads, cb))
    return RunResult(raw)


def ode(config: Config = None, t: Optional[Sequence[float]] = None) -> Table:
    """The limiting ODE of a config, from its initial overlaps, without simulating.

    Args:
        config: as for :func:`run`.
        t: output times (finite, non-decreasing); default the config's record times.

    Returns:
        A :class:`Table` with columns ``t`` and the overlaps.
    """
    kind, value = _config_arg(config)
    times = None if t is None else [float(x) for x in np.asarray(t, dtype=np.float64).ravel()]
    raw = _hdgan.ode(kind, value, times)
    return Table(raw["ode"], ["t"] + list(raw["names"]))


def claim1(config: Config = None) -> Optional[Dict[str, Any]]:
    """Claim 1's prediction for a config's ``[model]``: both sides of condition (15)
    (``left``, ``tau_eta_sq``, ``right`` and whether each holds), ``p_star`` per mode, each
    mode's status and the ``predicted`` phase. None where Claim 1 does not apply (a loss
    other than the quadratic one, or latent moments that are not diagonal)."""
    kind, value = _config_arg(config)
    return json.loads(_hdgan.claim1(kind, value))


def fixed_points(config: Config = None) -> List[Dict[str, Any]]:
    """The fixed points of the reduced ODE (lambda = inf) for a config's ``[model]``, as
    ``hdgan fixed-points`` lists them: each with its ``kind``, ``state`` (the overlaps by
    name, ``{"P11": ..., "z": ...}``), ``residual``, Jacobian ``eigenvalues`` (re, im),
    ``stability`` and ``physical``."""
    kind, value = _config_arg(config)
    return json.loads(_hdgan.fixed_points(kind, value))


def modes(config: Config = None) -> Dict[str, Any]:
    """The effective second moments' modes of a config's ``[model]`` (quadratic loss,
    one discriminator feature): each mode's data and generator eigenvalues, its solvable
    interval and status, ``tau_eta_sq``, ``alpha`` and the ``predicted`` phase."""
    kind, value = _config_arg(config)
    return json.loads(_hdgan.modes(kind, value))


class PhaseMapResult:
    """What :func:`phase_map` returns.

    Attributes:
        x, y: the grid values (``x_param``, ``y_param`` name them).
        ode, claim1, sim: grids (len(y) x len(x)) of phase codes: 0 success,
            1 oscillation, 2 failure, 3 + (bit mask of learned features) mode collapse,
            NaN unknown / not simulated; as ``ode_phase_grid.npy`` of ``hdgan phase``.
        cells: every grid point's details (row by row, y outer).
        agreement: (points where Claim 1 and the ODE were compared, how many agreed).
    """

    def __init__(self, raw: Dict[str, Any]):
        self.x = np.asarray(raw["x"], dtype=np.float64)
        self.y = np.asarray(raw["y"], dtype=np.float64)
        self.x_param: str = raw["x_param"]
        self.y_param: str = raw["y_param"]
        self.ode: np.ndarray = raw["ode"]
        self.claim1: np.ndarray = raw["claim1"]
        self.sim: np.ndarray = raw["sim"]
        self.cells: List[Dict[str, Any]] = json.loads(raw["cells"])
        self.agreement: Tuple[int, int] = tuple(raw["agreement"])  # type: ignore[assignment]
        self.sim_agreement = raw["sim_agreement"]
        self.seconds: float = raw["seconds"]

    def plot(self, ax: Any = None) -> Any:
        """The ODE's phase codes as an image over the grid (matplotlib); returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 5))
        extent = [self.x[0], self.x[-1], self.y[0], self.y[-1]]
        im = ax.imshow(self.ode, origin="lower", extent=extent, aspect="auto", cmap="viridis")
        ax.set_xlabel(self.x_param)
        ax.set_ylabel(self.y_param)
        ax.figure.colorbar(im, ax=ax, label="ODE phase code")
        return ax

    def __repr__(self) -> str:
        return f"PhaseMapResult({len(self.y)} x {len(self.x)} over {self.x_param}, {self.y_param}; agreement {self.agreement})"


def phase_map(config: Config, threads: Optional[int] = None, progress: Progress = True) -> PhaseMapResult:
    """The phase diagram of a phase config (``[grid]``, ``[model]``, ...; see
    ``configs/phase-eta-alpha.toml``): the ODE's phase and Claim 1's prediction at every
    grid point, and simulations where the config asks. As ``hdgan phase``."""
    threads = _check_count("threads", threads)
    kind, value = _config_arg(config)
    raw = _with_progress(progress, lambda cb: _hdgan.phase_map(kind, value, threads, cb))
    return PhaseMapResult(raw)


class MeasureResult:
    """What :func:`measure` returns: ``moments`` (a :class:`Table`: per snapshot time the
    simulation's and the PDE's mean and covariance of the scaled rows ``(v^, w^)``, and
    their sliced W1 / KS distances), ``times`` and ``rows`` (one N x 2 array of
    ``(v^, w^)`` per time)."""

    def __init__(self, raw: Dict[str, Any]):
        self.moments = Table(raw["moments"], raw["columns"])
        self.times: List[float] = list(raw["times"])
        self.rows: List[np.ndarray] = list(raw["rows"])
        self.seconds: float = raw["seconds"]

    def __repr__(self) -> str:
        return f"MeasureResult({len(self.times)} snapshots of {self.rows[0].shape[0] if self.rows else 0} rows)"


def measure(config: Config, progress: Progress = True) -> MeasureResult:
    """Figure 2: snapshots of the weights' scaled rows against the Gaussian solution of the
    limiting PDE, for a measure config (see ``configs/fig2.toml``). As ``hdgan measure``."""
    kind, value = _config_arg(config)
    raw = _with_progress(progress, lambda cb: _hdgan.measure(kind, value, cb))
    return MeasureResult(raw)


class TrainDataResult:
    """What :func:`train_data` returns.

    Attributes:
        alignment: every method's path on every seed: columns ``method`` (an index into
            ``methods``), ``seed``, ``t``, ``cos1``..``cosd`` (cosines of the principal
            angles with the data's top-d principal subspace), ``mean_cos``, ``grassmann``
            and ``recon`` (held-out reconstruction error).
        ode_alignment: the ODE's alignment from each seed's start: ``covariance`` (an index
            into ``covariances``), ``seed``, ``t``, the cosines, ``mean_cos``, ``grassmann``.
        runs: per generator covariance its ``alpha``, latent moments and the final
            alignments of the simulations and the ODE.
        spectrum: the estimated effective spectrum ``Lam``; ``n`` the pixel count.
    """

    def __init__(self, raw: Dict[str, Any]):
        d = int(raw["d"])
        cos = [f"cos{i}" for i in range(1, d + 1)]
        self.methods: List[str] = list(raw["methods"])
        self.covariances: List[str] = list(raw["covariances"])
        self.alignment = Table(raw["alignment"], ["method", "seed", "t"] + cos + ["mean_cos", "grassmann", "recon"])
        self.ode_alignment = Table(raw["ode_alignment"], ["covariance", "seed", "t"] + cos + ["mean_cos", "grassmann"])
        self.runs: List[Dict[str, Any]] = json.loads(raw["runs"])
        self.spectrum: List[float] = list(raw["spectrum"])
        self.n: int = int(raw["n"])
        self.images: int = int(raw["images"])
        self.holdout: int = int(raw["holdout"])
        self.alpha: float = float(raw["alpha"])
        self.t_end: float = float(raw["t_end"])
        self.seconds: float = float(raw["seconds"])

    def method(self, name: str) -> Table:
        """The rows of one method (e.g. ``"gan-informed"``)."""
        k = self.methods.index(name)
        return Table(self.alignment.data[self.alignment["method"] == k], self.alignment.columns)

    def __repr__(self) -> str:
        return f"TrainDataResult(n = {self.n}, {self.images} images, methods {self.methods})"


def train_data(
    dataset: str,
    path: Union[str, "os.PathLike[str]"],
    d: int = 2,
    seeds: int = 5,
    seed: int = 1,
    tau: float = 0.2,
    alpha: Optional[float] = None,
    eta_g: float = 3.0,
    t_end: Optional[float] = None,
    records: int = 100,
    max_images: Optional[int] = None,
    threads: Optional[int] = None,
    progress: Progress = True,
) -> TrainDataResult:
    """Trains the linear GAN on a stream of real images, as ``hdgan train-data``: for an
    informed, an isotropic and a standard generator latent, several seeds, the alignment
    of span(V) with the data's top-d principal subspace, with the ODE computed from the
    estimated spectrum beside it.

    Args:
        dataset: ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"``.
        path: the dataset's folder (IDX files, or CIFAR-10's binary batches).
        d: generator columns; seeds, seed: how many seeds and the base seed.
        tau, alpha, eta_g, t_end: the rates (alpha = tau~ / tau; None: from the data),
            the generator's noise variance and the horizon (None: from the data).
        records: recorded points per run; max_images: use only the first images.
        threads, progress: as for :func:`run`.
    """
    for name, v in [("d", d), ("seeds", seeds), ("records", records)]:
        _check_count(name, v)
    threads = _check_count("threads", threads)
    max_images = _check_count("max_images", max_images)
    raw = _with_progress(
        progress,
        lambda cb: _hdgan.train_data(
            str(dataset), os.fspath(path), int(d), int(seeds), int(seed), float(tau),
            None if alpha is None else float(alpha), float(eta_g),
            None if t_end is None else float(t_end), int(records), max_images, threads, cb,
        ),
    )
    return TrainDataResult(raw)


class Output:
    """An output folder written by the command line, read back by :func:`load`.

    ``out.tables`` maps each ``.npy`` file's stem to a :class:`Table` (columns from the
    CSV beside it), also reachable as attributes (``out.sim``, ``out.ode``); ``out.meta``
    holds the folder's JSON files by stem (``out.meta["run"]``); ``out.config`` the
    configuration, when the folder has ``config.toml``.
    """

    def __init__(self, folder: Path, tables: Dict[str, Table], meta: Dict[str, Any], config: Optional[Dict[str, Any]]):
        self.folder = folder
        self.tables = tables
        self.meta = meta
        self.config = config

    def __getattr__(self, name: str) -> Table:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(f"{name!r}: the folder has tables {sorted(tables)}")

    def __repr__(self) -> str:
        return f"Output({str(self.folder)!r}: tables {sorted(self.tables)}, meta {sorted(self.meta)})"


def _npy_columns(npy: Path, meta: Dict[str, Any]) -> Optional[List[str]]:
    csv = npy.with_suffix(".csv")
    if csv.is_file():
        with open(csv, encoding="utf-8") as f:
            header = f.readline().strip()
        if header:
            return header.split(",")
    for m in meta.values():
        cols = m.get("columns") if isinstance(m, dict) else None
        if isinstance(cols, dict) and isinstance(cols.get(npy.stem), list):
            return list(cols[npy.stem])
    return None


def load(folder: Union[str, "os.PathLike[str]"]) -> Output:
    """Reads any output folder the command line wrote (``hdgan run``, ``sweep``,
    ``fluctuations``, ``escape``, ``phase``, ...) with column names.

    Raises:
        ConfigError: the folder does not exist or holds no hdgan output.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"load: {str(root)!r} is not a folder")
    meta: Dict[str, Any] = {}
    for js in sorted(root.glob("*.json")):
        try:
            meta[js.stem] = json.loads(js.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"load: cannot read {js}: {e}") from e
    tables: Dict[str, Table] = {}
    for npy in sorted(root.glob("*.npy")):
        data = np.load(npy, allow_pickle=False)
        if data.ndim == 1:
            data = data.reshape(-1, 1)
        cols = _npy_columns(npy, meta)
        if data.ndim == 2 and cols is not None and len(cols) == data.shape[1]:
            tables[npy.stem] = Table(data, cols)
        elif data.ndim == 2:
            tables[npy.stem] = Table(data, [f"c{i}" for i in range(data.shape[1])])
    cfg_file = root / "config.toml"
    config = _toml_loads(cfg_file.read_text(encoding="utf-8")) if cfg_file.is_file() else None
    if not tables and not meta:
        raise ConfigError(f"load: {str(root)!r} holds no hdgan output (no .npy or .json files)")
    return Output(root, tables, meta, config)
