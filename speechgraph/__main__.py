import sys

from speechgraph.cli import main

sys.exit(main())
