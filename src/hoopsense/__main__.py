"""``python -m hoopsense`` runs the command-line interface."""

import sys

from hoopsense.cli import main

sys.exit(main())
