"""scikit-learn and scipy, which training needs and routing does not (the ``train`` extra).

Only the training modules import this one: importing it without the extra raises a
:class:`~modelmuxer.errors.ConfigError` that names the extra to install.
"""

from __future__ import annotations

from typing import Any

from modelmuxer.errors import ConfigError

__all__ = ["MISSING", "logistic_regression", "sparse"]

#: What training says when scikit-learn (and scipy, which comes with it) is not installed.
MISSING = (
    "training or evaluating a router needs scikit-learn: pip install 'modelmuxer[train]' "
    "(routing with a trained router does not)"
)

try:
    import scipy.sparse as sparse  # type: ignore[import-untyped]
except ImportError:
    raise ConfigError(MISSING) from None


def logistic_regression(c: float, seed: int) -> Any:
    """An unfitted scikit-learn ``LogisticRegression`` as training fits its models: inverse
    regularisation ``c``, liblinear's dual solver (many features, few rows), no intercept (the
    design carries its own), and ``seed`` for liblinear's shuffling (the same data gives the
    same weights).

    :raises ConfigError: scikit-learn is not installed (``pip install 'modelmuxer[train]'``).
    """
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise ConfigError(MISSING) from None
    return LogisticRegression(
        C=c, solver="liblinear", dual=True, max_iter=1000, fit_intercept=False, random_state=seed
    )
