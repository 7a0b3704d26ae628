"""Analytics: tracking what visitors do, revenue and conversion reports, photographers' earnings."""
from flask import Blueprint

bp = Blueprint("analytics", __name__)

from . import commands, ledger, routes  # noqa: E402,F401  (ledger: the rollups follow every ledger write)
