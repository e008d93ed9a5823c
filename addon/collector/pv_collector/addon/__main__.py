"""`python3 -m pv_collector.addon`: the add-on's start step (the s6 run script's command)."""

from __future__ import annotations

import sys

from pv_collector.addon.start import main

sys.exit(main())
