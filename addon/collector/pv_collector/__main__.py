"""`python -m pv_collector ...` is `pv-collector ...`."""

from __future__ import annotations

import sys

from pv_collector.cli import main

sys.exit(main())
