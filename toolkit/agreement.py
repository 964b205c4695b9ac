"""``python -m toolkit.agreement``: the documented entry point; the code is toolkit.analysis.agreement."""
import sys

from toolkit.analysis.agreement import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
