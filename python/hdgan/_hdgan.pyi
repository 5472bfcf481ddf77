"""Type stubs of the native module (hdgan._hdgan); the documented API is hdgan's."""

from typing import Any, Callable, Dict, List, Optional, Tuple

class ConfigError(ValueError):
    """Bad input; the message names the config key (or argument) and the rule."""

class ResourceError(MemoryError):
    """A request too big for this machine; the message names the keys that drive the estimate."""

def run(
    kind: str,
    value: str,
    seed: Optional[int] = None,
    engine: Optional[str] = None,
    members: Optional[int] = None,
    threads: Optional[int] = None,
    progress: Optional[Callable[[str, int, int, str], None]] = None,
) -> Dict[str, Any]: ...
def ode(kind: str, value: str, t: Optional[List[float]] = None) -> Dict[str, Any]: ...
def build_info() -> Tuple[str, str]: ...
def claim1(kind: str, value: str) -> str: ...
def fixed_points(kind: str, value: str) -> str: ...
def modes(kind: str, value: str) -> str: ...
def phase_map(
    kind: str,
    value: str,
    threads: Optional[int] = None,
    progress: Optional[Callable[[str, int, int, str], None]] = None,
) -> Dict[str, Any]: ...
def measure(
    kind: str, value: str, progress: Optional[Callable[[str, int, int, str], None]] = None
) -> Dict[str, Any]: ...
def train_data(
    dataset: str,
    path: str,
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
    progress: Optional[Callable[[str, int, int, str], None]] = None,
) -> Dict[str, Any]: ...
