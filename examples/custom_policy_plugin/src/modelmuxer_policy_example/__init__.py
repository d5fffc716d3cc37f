"""An example ModelMuxer plugin: a routing policy installed through the ``modelmuxer`` entry point.

``plugin`` is what the entry point names: a :class:`RoutingPolicy` configured from the
environment when this package is first imported. Build your own ``RoutingPolicy(...)`` and pass
it as ``Muxer(plugins=[...])`` to configure it in code instead.
"""

from modelmuxer_policy_example._policy import (
    CODE_MODEL_ENV,
    CONFIDENTIAL_REASON,
    CONFIDENTIAL_TAG,
    SELF_HOSTED_ENV,
    SELF_HOSTED_PROVIDERS,
    RoutingPolicy,
)

__all__ = [
    "CODE_MODEL_ENV",
    "CONFIDENTIAL_REASON",
    "CONFIDENTIAL_TAG",
    "SELF_HOSTED_ENV",
    "SELF_HOSTED_PROVIDERS",
    "RoutingPolicy",
    "plugin",
]

#: The instance the ``modelmuxer`` entry point registers on every muxer.
plugin = RoutingPolicy.from_env()
