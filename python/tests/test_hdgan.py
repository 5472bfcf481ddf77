"""The Python API: every function, the error mapping, dtypes and shapes, equality with the
command line, interruption and the GIL."""

import os
import signal
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import hdgan

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = pytest.importorskip("tomli")

NAMES = ["P11", "P12", "P21", "P22", "q1", "q2", "r1", "r2", "S11", "S12", "S21", "S22", "z"]


def test_run_returns_named_float64_tables(small_toml):
    r = hdgan.run(small_toml, engine="gram", progress=False)
    assert r.sim.columns == ["member", "t"] + NAMES
    assert r.sim.data.dtype == np.float64 and r.sim.shape == (2 * 21, 15)
    assert r.ode is not None and r.ode.columns == ["t"] + NAMES and r.ode.shape == (21, 14)
    assert r.ode_sd is not None and r.ode_sd.shape == (21, 14)
    assert np.array_equal(r.member(1)["t"], np.arange(21.0))
    assert r.config["model"]["n"] == 400 and r.config["seed"] == 3
    assert r.provenance["seed"] == 3 and "git_revision" in r.provenance
    assert set(r.phases) == {"sim_member0", "ode"}
    assert np.asarray(r.sim).shape == r.sim.shape
    with pytest.raises(KeyError, match="no column"):
        r.sim["nope"]


def test_config_as_dict_toml_string_and_path_agree(small_toml, small_path):
    forms = [small_toml, tomllib.loads(small_toml), small_path, str(small_path)]
    sims = [hdgan.run(c, engine="gram", progress=False).sim.data for c in forms]
    for s in sims[1:]:
        assert np.array_equal(s, sims[0])


def test_same_seed_same_numbers_whatever_the_threads(small_toml):
    a = hdgan.run(small_toml, seed=11, engine="gram", threads=1, progress=False)
    b = hdgan.run(small_toml, seed=11, engine="gram", threads=2, progress=False)
    c = hdgan.run(small_toml, seed=12, engine="gram", progress=False)
    assert np.array_equal(a.sim.data, b.sim.data)
    assert not np.array_equal(a.sim.data, c.sim.data)
    assert hdgan.run(small_toml, members=3, engine="gram", progress=False).sim.shape[0] == 63


@pytest.mark.parametrize("engine", ["gram", "full"])
def test_python_equals_the_cli_bit_for_bit(small_path, tmp_path, cli, engine):
    out = tmp_path / "out"
    p = cli("run", str(small_path), "--out", str(out), "--seed", "5", "--engine", engine, "-q", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    r = hdgan.run(small_path, seed=5, engine=engine, progress=False)
    assert np.array_equal(np.load(out / "sim.npy"), r.sim.data)
    assert np.array_equal(np.load(out / "ode.npy"), r.ode.data)
    loaded = hdgan.load(out)
    assert loaded.sim.columns == r.sim.columns
    assert np.array_equal(loaded.sim.data, r.sim.data)
    assert loaded.meta["run"]["seed"] == 5
    assert loaded.config["model"]["n"] == 400


def test_ode_at_given_and_default_times(small_toml):
    p = hdgan.ode(small_toml, t=[0.0, 1.5, 10.0])
    assert p.columns == ["t"] + NAMES and p.shape == (3, 14)
    assert np.array_equal(p["t"], [0.0, 1.5, 10.0]) and p["P11"][0] == 0.1
    assert p["z"][2] == pytest.approx(1.0)
    full = hdgan.ode(small_toml)
    assert full.shape == (21, 14)
    run = hdgan.run(small_toml, engine="gram", progress=False)
    assert np.allclose(full.data, run.ode.data, rtol=0, atol=1e-9)


def test_load_reads_other_folders(tmp_path, cli):
    out = tmp_path / "fl"
    p = cli("fluctuations", "--n", "1000", "--out", str(out), "-q", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    f = hdgan.load(out)
    assert f.sigma.columns[0] == "t" and f.sigma.shape[1] == 1 + 13 * 13
    assert f.ode_sd.columns == ["t"] + NAMES
    assert f.meta["fluctuations"]["n"] == 1000
    with pytest.raises(AttributeError, match="tables"):
        f.nope
    with pytest.raises(hdgan.ConfigError, match="not a folder"):
        hdgan.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(hdgan.ConfigError, match="no hdgan output"):
        hdgan.load(tmp_path / "empty")


# One test per kind of bad input: each raises ConfigError (a ValueError) naming the key.
BAD = [
    ("missing key", lambda t: tomllib.loads(t.replace("d = 2\n", "")), {}, "model.d"),
    ("rule broken", lambda t: t.replace("tau = 0.2", "tau = -0.2"), {}, "model.tau"),
    ("TOML syntax", lambda t: t.replace("[model]", "[model"), {}, "TOML string"),
    ("unknown key", lambda t: t.replace("[model]\n", "[model]\ncolour = 1\n"), {}, "colour"),
    ("bad engine", lambda t: t, {"engine": "warp"}, "sim.engine"),
    ("members", lambda t: t, {"members": 0}, "members"),
    ("threads", lambda t: t, {"threads": 0}, "threads"),
    ("seed", lambda t: t, {"seed": -1}, "seed"),
]


@pytest.mark.parametrize("what,edit,kwargs,needle", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_config_error_naming_the_key(small_toml, what, edit, kwargs, needle):
    with pytest.raises(hdgan.ConfigError) as e:
        hdgan.run(edit(small_toml), progress=False, **kwargs)
    assert needle in str(e.value)
    assert isinstance(e.value, ValueError)


def test_missing_file_bad_times_and_wrong_types(tmp_path, small_toml):
    with pytest.raises(hdgan.ConfigError, match="no such file"):
        hdgan.run("no_such_config.toml", progress=False)
    with pytest.raises(hdgan.ConfigError, match="cannot read"):
        hdgan.run(tmp_path / "no_such.toml", progress=False)
    with pytest.raises(hdgan.ConfigError, match="argument `t`"):
        hdgan.ode(small_toml, t=[2.0, 1.0])
    with pytest.raises(TypeError):
        hdgan.run(3)


def test_the_exception_class_comes_from_the_kind_of_error(small_toml):
    # Bad input: ConfigError, a ValueError.
    with pytest.raises(hdgan.ConfigError) as e:
        hdgan.run(small_toml.replace("tau = 0.2", "tau = -0.2"), progress=False)
    assert isinstance(e.value, ValueError) and "model.tau" in str(e.value)
    # Too big for any machine (4e14 recorded states): ResourceError, a MemoryError,
    # refused before any work and naming the keys to reduce.
    huge = small_toml.replace("t_end = 20.0", "t_end = 1e12").replace(
        "record_dt = 1.0", "record_dt = 0.0025"
    )
    with pytest.raises(hdgan.ResourceError) as e:
        hdgan.run(huge, progress=False)
    assert isinstance(e.value, MemoryError) and not isinstance(e.value, hdgan.ConfigError)
    assert "sim.t_end" in str(e.value)
    # A failure of the computation (finite lambda = 0 with a huge discriminator rate
    # diverges): RuntimeError naming the time and the quantity.
    diverging = (
        small_toml.replace('lambda = "inf"', "lambda = 0.0")
        .replace("tau = 0.2", "tau = 40.0")
        .replace("t_end = 20.0", "t_end = 50.0")
        .replace("[sim]", "[sim]\nblowup = 1e6")
    )
    with pytest.raises(RuntimeError, match="diverged at t ="):
        hdgan.run(diverging, progress=False)


# Every call of the native module, cheap arguments: a panic anywhere in one is a
# RuntimeError (an Exception), never pyo3's PanicException (a BaseException).
CALLS = {
    "build_info": lambda t: hdgan._hdgan.build_info(),
    "claim1": lambda t: hdgan.claim1(t),
    "fixed_points": lambda t: hdgan.fixed_points(t),
    "modes": lambda t: hdgan.modes(t),
    "ode": lambda t: hdgan.ode(t, t=[0.0, 1.0]),
    "run": lambda t: hdgan.run(t, progress=False),
    "phase_map": lambda t: hdgan.phase_map(PHASE, progress=False),
    "measure": lambda t: hdgan.measure(MEASURE, progress=False),
    "train_data": lambda t: hdgan._hdgan.train_data("mnist", "nowhere"),
}
# The long calls, whose work runs on a worker thread.
WORKER_CALLS = ["ode", "run", "phase_map", "measure", "train_data"]


def _raises_runtime_error(call):
    try:
        call()
    except BaseException as e:  # noqa: B036 - the point is what class it is
        assert isinstance(e, Exception), f"{type(e)} is not an Exception"
        assert type(e) is RuntimeError, type(e)
        assert "a bug" in str(e), str(e)
    else:
        raise AssertionError("no exception")


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_panic_in_a_call_is_a_runtime_error(small_toml, monkeypatch, name):
    # HDGAN_TEST_PANIC=call panics at the start of every native call (a test hook).
    monkeypatch.setenv("HDGAN_TEST_PANIC", "call")
    _raises_runtime_error(lambda: CALLS[name](small_toml))


@pytest.mark.parametrize("name", WORKER_CALLS)
def test_a_panic_on_the_worker_is_a_runtime_error(small_toml, monkeypatch, name):
    # HDGAN_TEST_PANIC=worker panics on the worker thread of every long call.
    monkeypatch.setenv("HDGAN_TEST_PANIC", "worker")
    _raises_runtime_error(lambda: CALLS[name](small_toml))


def test_the_library_works_after_a_panic(small_toml, monkeypatch):
    monkeypatch.setenv("HDGAN_TEST_PANIC", "worker")
    with pytest.raises(RuntimeError):
        hdgan.ode(small_toml, t=[0.0, 1.0])
    monkeypatch.delenv("HDGAN_TEST_PANIC")
    assert hdgan.ode(small_toml, t=[0.0, 1.0]).shape == (2, 14)


def test_progress_callback_sees_the_whole_run(small_toml):
    seen = []
    hdgan.run(small_toml, engine="gram", members=4, progress=lambda *a: seen.append(a))
    assert seen, "no progress reported"
    what, done, total, unit = seen[-1]
    assert done == total and isinstance(what, str) and isinstance(unit, str)


def test_keyboard_interrupt_stops_a_long_run():
    # Figure 1 with the literal engine takes ~20 s; SIGINT arrives after 1 s from a thread.
    def send():
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=send, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        hdgan.run(engine="full", progress=False)
    assert time.monotonic() - start < 8.0
    # The library is usable afterwards.
    assert hdgan.ode(t=[0.0, 1.0]).shape == (2, 14)


def test_the_gil_is_released_during_a_run():
    counter = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=count)
    t.start()
    start = time.monotonic()
    hdgan.run(engine="gram", members=4, progress=False)
    elapsed = time.monotonic() - start
    before = counter[0]
    stop.set()
    t.join()
    # A thread starved of the GIL would count only in the 50 ms slices of the wait loop;
    # with it released it counts millions of times per second.
    assert elapsed > 0.2
    assert before > 100_000 * elapsed, (before, elapsed)


def test_to_pandas_and_plot(small_toml):
    pd = pytest.importorskip("pandas")
    r = hdgan.run(small_toml, engine="gram", progress=False)
    df = r.sim.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == r.sim.columns
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    ax = r.plot()
    assert len(ax.get_lines()) >= 4


def test_claim1_fixed_points_and_modes(small_toml):
    c = hdgan.claim1(small_toml)
    assert c["predicted"] == "Success" and c["left_holds"] and c["right_holds"]
    assert c["tau_eta_sq"] == pytest.approx(0.8)
    logistic = small_toml.replace("[model]\n", '[model]\nloss = "logistic"\n')
    assert hdgan.claim1(logistic) is None
    fps = hdgan.fixed_points(small_toml)
    assert fps and all(sorted(f["state"]) == sorted(NAMES) for f in fps)
    assert any(f["state"]["P11"] == 0.0 for f in fps)
    m = hdgan.modes(small_toml)
    assert m["predicted"] == "Success" and len(m["modes"]) == 2
    with pytest.raises(hdgan.ConfigError, match="model.lambda"):
        hdgan.fixed_points(small_toml.replace('lambda = "inf"', "lambda = 2.0"))


PHASE = """
[model]
n = 5000
d = 2
tau = 0.2
tau_tilde = 0.04
eta_t = 2.0
eta_g = 2.0
lambda = "inf"

[model.latent]
cov = [[5.0, 0.0], [0.0, 3.0]]

[init]
p0 = [[0.1, 0.0], [0.0, 0.1]]
q0 = [0.1, 0.1]

[phase]
x = { param = "tau_eta_sq", min = 0.5, max = 4.0, count = 4 }
y = { param = "alpha", min = 0.1, max = 0.5, count = 3 }
t_end = 200.0
"""


def test_loss_table_and_deprecated_flat_bias(small_toml):
    table = small_toml.replace("[model]\n", '[model]\nloss = { name = "logistic", bias = 0.5 }\n')
    flat = small_toml.replace("[model]\n", '[model]\nloss = "logistic"\nloss_bias = 0.5\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = hdgan.fixed_points(table)
    with pytest.warns(DeprecationWarning, match="model.loss_bias"):
        b = hdgan.fixed_points(flat)
    assert a == b



def test_phase_map_grids():
    r = hdgan.phase_map(PHASE, progress=False)
    assert r.ode.shape == (3, 4) and r.claim1.shape == (3, 4) and r.sim.shape == (3, 4)
    assert r.ode.dtype == np.float64 and np.array_equal(r.x, np.linspace(0.5, 4.0, 4))
    assert len(r.cells) == 12 and r.agreement[0] == 12
    # Claim 1 and the ODE agree on this coarse grid away from the boundaries.
    assert r.agreement[1] >= 10
    assert np.isnan(r.sim).all()
    with pytest.raises(hdgan.ConfigError, match="phase"):
        hdgan.phase_map(PHASE.replace("count = 4", "count = 1"), progress=False)


MEASURE = """
seed = 1
[model]
n = 2000
d = 1
tau = 0.2
tau_tilde = 0.04
eta_t = 2.0
eta_g = 2.0
lambda = "inf"
[model.latent]
cov = [[5.0]]
[init]
p0 = [[0.1]]
q0 = [0.1]
features = "constant"
row_cov = [[0.99, 0.0], [0.0, 0.99]]
[measure]
times = [0.0, 5.0]
dt = 0.05
mode = "fast"
"""


def test_measure_snapshots():
    r = hdgan.measure(MEASURE, progress=False)
    assert r.times == [0.0, 5.0]
    assert [x.shape for x in r.rows] == [(2000, 2), (2000, 2)]
    assert r.moments.columns[0] == "t" and r.moments.shape == (2, 14)
    assert np.all(np.isfinite(r.moments.data))


def test_train_data_on_mnist():
    data = os.environ.get("HDGAN_DATA")
    if not data or not Path(data).is_dir():
        pytest.skip("HDGAN_DATA is not set to the folder with MNIST (CI sets it)")
    r = hdgan.train_data("mnist", data, d=2, seeds=2, max_images=2000, records=20, progress=False)
    assert r.n == 784 and r.images + r.holdout == 2000
    assert "gan-informed" in r.methods
    g = r.method("gan-informed")
    assert g.columns[:3] == ["method", "seed", "t"] and set(g["seed"]) == {0.0, 1.0}
    assert np.all((g["mean_cos"] >= 0) & (g["mean_cos"] <= 1 + 1e-12))
    assert r.ode_alignment.shape[0] > 0 and len(r.runs) == 3


def test_train_data_refuses_bad_arguments(tmp_path):
    with pytest.raises(hdgan.ConfigError, match="dataset"):
        hdgan.train_data("imagenet", tmp_path, progress=False)
    with pytest.raises(hdgan.ConfigError):
        hdgan.train_data("mnist", tmp_path / "missing", progress=False)
    with pytest.raises(hdgan.ConfigError, match="seeds"):
        hdgan.train_data("mnist", tmp_path, seeds=0, progress=False)
