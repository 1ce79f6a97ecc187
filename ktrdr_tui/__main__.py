import sys

from ktrdr_tui.cli import main

sys.exit(main())
