import sys

from qaihm_lint.cli import main

sys.exit(main())
