"""Slipway's Python client: push models, predict DataFrames, promote, shift traffic, run batch jobs.

>>> from slipway import Client, SlipwayError
>>> client = Client("http://127.0.0.1:8080")          # or SLIPWAY_SERVER / SLIPWAY_TOKEN
>>> client.push(pipeline, name="penguin-species", sample=x_test)
"""

from .client import Client
from .errors import SlipwayError

__all__ = ["Client", "SlipwayError"]
__version__ = "0.1.0"
