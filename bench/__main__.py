"""python -m bench: the whole benchmark (bench.suite)."""

import sys

from bench.suite import main

sys.exit(main())
