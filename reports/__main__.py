"""`python -m reports ...` is `avatar-report ...`."""

import sys

from reports.cli import main

sys.exit(main())
