"""`python -m kit_client` is `kit` (for an environment where the console script is not on PATH)."""

import sys

from kit_client.cli import main

sys.exit(main())
