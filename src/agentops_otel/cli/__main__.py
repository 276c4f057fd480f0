"""``python -m agentops_otel.cli``: the ``agentops-otel`` command."""

import sys

from agentops_otel.cli import main

sys.exit(main())
