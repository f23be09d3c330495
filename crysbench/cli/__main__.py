"""``python -m crysbench.cli``: the same as the ``crysbench`` console script."""

import sys

from crysbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
