"""``python -m gptcore``: the same as the ``gptcore`` command."""

import sys

from .cli import main

sys.exit(main())
