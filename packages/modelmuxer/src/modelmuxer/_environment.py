"""``MODELMUXER_*`` variables that set nothing: the project's own, and the mistyped ones.

pydantic-settings reads ``MODELMUXER_<FIELD>`` for each setting and ignores every other
``MODELMUXER_*`` variable, so ``MODELMUXER_BUDGET`` (for ``MODELMUXER_BUDGETS``) or
``MODELMUXER_CACHE__ENABLED`` (the cache section takes JSON) would change nothing, silently.
:func:`unknown_variables` names them, with the setting that was probably meant, so that
:func:`~modelmuxer.config.load_settings` can log a warning. Never an error: a plugin may read a
variable of its own under the prefix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Final

from pydantic import BaseModel

from modelmuxer.audit.settings import DEFAULT_KEY_ENV
from modelmuxer.crypto import DEFAULT_KEYS_ENV
from modelmuxer.ledger.settings import HOME_ENV

__all__ = ["PREFIX", "PROJECT_VARIABLES", "unknown_variables"]

PREFIX: Final = "MODELMUXER_"

#: The project's ``MODELMUXER_*`` variables that are not settings, in one place: each is read
#: by the code named beside it. A new one goes here, or its users get a warning.
PROJECT_VARIABLES: Final = frozenset(
    {
        HOME_ENV,  # ledger.settings: the directory of the default ledger and outbox
        DEFAULT_KEYS_ENV,  # crypto: the encryption keys (encryption.keys_env)
        DEFAULT_KEY_ENV,  # audit.settings: the audit log's HMAC key (audit.hmac_key_env)
        "MODELMUXER_DISABLE_PLUGIN_AUTOLOAD",  # plugins.DISABLE_AUTOLOAD_ENV
        "MODELMUXER_POLICY_CODE_MODEL",  # examples/custom_policy_plugin
        "MODELMUXER_POLICY_SELF_HOSTED",  # examples/custom_policy_plugin
        "MODELMUXER_RECORDS_FILE",  # examples/litellm_proxy
        "MODELMUXER_AUDIT_URL",  # examples/litellm_proxy
        "MODELMUXER_DATA",  # tests and benchmarks: the shared data sets
        "MODELMUXER_PACKAGING_PYTHON",  # tests/packaging
        "MODELMUXER_PACKAGING_RESOLUTION",  # tests/packaging
    }
)
#: Prefixes of whole families of the project's own variables (the test suite's fake keys).
_PROJECT_PREFIXES: Final = ("MODELMUXER_TEST_",)
#: difflib ratios: a near twin (one letter off) and a looser resemblance
_TWIN_CUTOFF: Final = 0.85
_CUTOFF: Final = 0.7


def _named_variables(value: object) -> Iterable[str]:
    """The variable names a settings object points at: every ``*_env`` field, at any depth
    (``encryption.keys_env``, ``audit.hmac_key_env``, ``models[].deployment.api_key_env``)."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            item = getattr(value, name)
            if name.endswith("_env") and isinstance(item, str):
                yield item.upper()
            else:
                yield from _named_variables(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _named_variables(item)


def _sections(settings: BaseModel) -> list[str]:
    """The settings that are objects (set as JSON), longest first."""
    fields = type(settings).model_fields
    names = [
        name
        for name, info in fields.items()
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
    ]
    return sorted(names, key=len, reverse=True)


def _closest(rest: str, settings: BaseModel, cutoff: float) -> str | None:
    known = [name.upper() for name in type(settings).model_fields]
    known += [name.removeprefix(PREFIX) for name in PROJECT_VARIABLES]
    close = difflib.get_close_matches(rest, known, n=1, cutoff=cutoff)
    return f"did you mean {PREFIX}{close[0]}?" if close else None


def _hint(rest: str, settings: BaseModel) -> str:
    """What ``MODELMUXER_<rest>`` was probably meant to be, as the end of a sentence: a near
    twin of a known name (``BUDGET``, ``ENCRYPTION_KEY``), else a key of an object setting
    (``CACHE__ENABLED``, ``LEDGER_URL``), else a looser match."""
    if (twin := _closest(rest, settings, _TWIN_CUTOFF)) is not None:
        return twin
    for section in _sections(settings):
        head = section.upper() + "_"
        if rest.startswith(head) and rest[len(head) :].strip("_"):
            key = rest[len(head) :].strip("_").lower()
            return (
                f"{section} is an object set as JSON in one variable, e.g. "
                f"{PREFIX}{section.upper()}='{{\"{key}\": ...}}'"
            )
    return _closest(rest, settings, _CUTOFF) or "the settings are listed in docs/configuration.md"


def unknown_variables(settings: BaseModel, environ: Mapping[str, str]) -> list[str]:
    """One message per ``MODELMUXER_*`` variable in ``environ`` that sets nothing.

    Known, and never reported: the fields of ``settings`` (``MODELMUXER_<FIELD>``, any case,
    as pydantic-settings reads them), :data:`PROJECT_VARIABLES`, ``MODELMUXER_TEST_*``, and
    the variables ``settings`` names in its ``*_env`` fields. Each message names the variable
    (never its value) and the setting it was probably meant for.
    """
    fields = {name.upper() for name in type(settings).model_fields}
    named = set(_named_variables(settings))
    messages = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(PREFIX) or upper.startswith(_PROJECT_PREFIXES):
            continue
        rest = upper.removeprefix(PREFIX)
        if rest in fields or upper in PROJECT_VARIABLES or upper in named:
            continue
        messages.append(
            f"{variable} is set but is not a ModelMuxer setting, so it changes nothing "
            f"(unless a plugin reads it): {_hint(rest, settings)}"
        )
    return messages
