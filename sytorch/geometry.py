"""The coordinates in which a parameter change is measured.

``parameters``: the change itself, ``D``. Measured this way, the smallest change that fixes an
edit set uses directions every image uses, and test accuracy drops sharply (the measurements are
in ``docs/repair-measurements.md``).

``outputs``: how much the layer's *outputs* move over a reference sample of training images.
For neuron k that is ``E[(f . D[k])^2] = D[k]^T G D[k]`` with ``G = E[f f^T]``. With
``G + eps * I = L L^T`` and ``v_k = L^T D[k]``, that is ``|v_k|^2``: the same problem in whitened
coordinates, where a row's features ``f`` become ``L^-1 f``. ``eps`` is relative to G's mean
eigenvalue; smaller means "change only what the training data does not use" more strictly.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import numpy as np
import scipy.linalg as la


class Geometry(abc.ABC):
    name: str
    summary: str

    @abc.abstractmethod
    def whiten(self, features: np.ndarray) -> np.ndarray:
        """Rows ``f`` -> ``L^-1 f``."""

    @abc.abstractmethod
    def whiten_units(self, coordinates: np.ndarray, width: int) -> np.ndarray:
        """Rows ``L^-1 e_j`` for the given coordinates j (of ``width``)."""

    @abc.abstractmethod
    def unwhiten(self, whitened_change: np.ndarray) -> np.ndarray:
        """(K, p) ``v_k`` -> ``D[k] = L^-T v_k``."""

    @property
    def is_identity(self) -> bool:
        return False


GEOMETRIES: dict[str, type[Geometry]] = {}


def register_geometry(name: str, summary: str) -> Callable[[type[Geometry]], type[Geometry]]:
    """Class decorator: the geometry answers to ``--geometry name``; ``summary`` is its help."""
    def decorate(cls: type[Geometry]) -> type[Geometry]:
        cls.name, cls.summary = name, summary
        GEOMETRIES[name] = cls
        return cls
    return decorate


def geometry_help() -> str:
    """``--geometry``'s help, one clause per registered geometry."""
    return "; ".join(f"{name}: {cls.summary}" for name, cls in GEOMETRIES.items())


@register_geometry("parameters", "the raw parameter change")
class ParameterGeometry(Geometry):

    def whiten(self, features: np.ndarray) -> np.ndarray:
        return features

    def whiten_units(self, coordinates: np.ndarray, width: int) -> np.ndarray:
        units = np.zeros((len(coordinates), width))
        units[np.arange(len(coordinates)), coordinates] = 1.0
        return units

    def unwhiten(self, whitened_change: np.ndarray) -> np.ndarray:
        return whitened_change

    @property
    def is_identity(self) -> bool:
        return True


@register_geometry("outputs", "change of the layer's outputs over a reference sample of "
                              "training images (keeps test accuracy)")
class OutputGeometry(Geometry):
    """Whitening by the layer input's second-moment matrix over a reference sample."""

    def __init__(self, second_moment: np.ndarray, eps: float = 1e-4):
        p = second_moment.shape[0]
        self.eps = float(eps)
        self.ridge = self.eps * float(np.trace(second_moment)) / p
        self.second_moment = second_moment
        self.cholesky = la.cholesky(second_moment + self.ridge * np.eye(p), lower=True)
        self._inverse: np.ndarray | None = None

    @classmethod
    def from_features(cls, features: np.ndarray, eps: float = 1e-4) -> OutputGeometry:
        return cls(second_moment_of(features), eps)

    def whiten(self, features: np.ndarray) -> np.ndarray:
        return la.solve_triangular(self.cholesky, features.T, lower=True, check_finite=False).T

    def whiten_units(self, coordinates: np.ndarray, width: int) -> np.ndarray:
        if self._inverse is None:
            self._inverse = la.solve_triangular(self.cholesky, np.eye(len(self.cholesky)),
                                                lower=True, check_finite=False)
        return self._inverse[:, coordinates].T

    def unwhiten(self, whitened_change: np.ndarray) -> np.ndarray:
        return la.solve_triangular(self.cholesky, whitened_change.T, lower=True, trans="T",
                                   check_finite=False).T

    def output_change_rms(self, change: np.ndarray) -> float:
        """Root-mean-square change of the symbolic outputs over the reference sample."""
        per_neuron = np.einsum("kp,pq,kq->k", change, self.second_moment, change)
        return float(np.sqrt(max(per_neuron.mean(), 0.0))) if len(change) else 0.0


def second_moment_of(features: np.ndarray) -> np.ndarray:
    """``E[f f^T]`` over the rows of ``features`` (N, p)."""
    return features.T @ features / max(len(features), 1)
