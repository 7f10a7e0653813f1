import sys

from bngrader.cli import main

sys.exit(main())
