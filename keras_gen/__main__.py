"""``python -m keras_gen``: the keras-gen command line (see :mod:`keras_gen.cli`)."""

import sys

from keras_gen.cli import main

if __name__ == "__main__":
    sys.exit(main())
