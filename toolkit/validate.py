"""``python -m toolkit.validate``: the documented entry point; the code is toolkit.analysis.validate."""
import sys

from toolkit.analysis.validate import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
