"""Guards Python subprocesses of the test suite: with this directory on PYTHONPATH
and ANIBRIDGE_NETGUARD_LOG set (tests.netguard.netguard_env() gives both), every
connection beyond loopback is refused and logged to that file."""

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import anibridge_netguard

anibridge_netguard.install_from_env()

# Being first on sys.path hides any other sitecustomize (distributions ship some):
# run the one that would have been imported without us.
_here = Path(__file__).resolve().parent
_rest = [p for p in sys.path if Path(p or ".").resolve() != _here]
_spec = importlib.machinery.PathFinder.find_spec("sitecustomize", _rest)
if _spec is not None and _spec.loader is not None and _spec.origin != __file__:
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
