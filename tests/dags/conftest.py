from __future__ import annotations

import sys
from pathlib import Path

# The DAG folder as MWAA (and Airflow) put it on sys.path: its package `tributary_mwaa` imports alone.
DAGS = Path(__file__).resolve().parents[2] / "dags"
if str(DAGS) not in sys.path:
    sys.path.insert(0, str(DAGS))
