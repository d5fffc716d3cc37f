"""The model catalog: cards built from litellm's bundled price map, with user overrides."""

from modelmuxer.catalog.catalog import Catalog, ModelLike, ModelSpec, build_card
from modelmuxer.catalog.pricemap import load_price_map, lookup_model
from modelmuxer.catalog.priors import Prior, prior_for

__all__ = [
    "Catalog",
    "ModelLike",
    "ModelSpec",
    "Prior",
    "build_card",
    "load_price_map",
    "lookup_model",
    "prior_for",
]
