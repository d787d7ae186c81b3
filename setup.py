"""Setuptools shim for Beam's ``--setup_file``. The metadata is in pyproject.toml.

Beam 2.77 stages a ``pyproject.toml`` only through ``python -m build``, which
is not a dependency here, but it falls back to ``python setup.py sdist`` for
a ``setup.py``.
"""

from setuptools import setup

setup()
