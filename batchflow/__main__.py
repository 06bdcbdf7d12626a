from __future__ import annotations

from batchflow.cli import main

if __name__ == "__main__":
    main()
