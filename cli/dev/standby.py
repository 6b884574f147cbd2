"""A warm spare of a ``dev up`` service: started, imported, and waiting for its turn.

``cellctl dev up`` keeps one spare each of the router and the control plane. A spare imports its
service's module (most of a Python service's start-up) and then waits on its standard input; when
the service it stands by for exits (a crash, SIGKILL, the OOM killer), ``dev up`` writes ``go``
and the spare runs the service's ``main()`` at once, on the same port and settings. So a dead
router or control plane is back in the time it takes to bind its port and start, not to start
Python; ``dev up`` then starts the next spare. End of input without ``go`` (``dev up`` went
away) ends the spare quietly.

    python -m cli.dev.standby router.server
"""

from __future__ import annotations

import importlib
import sys


def main() -> None:
    module = sys.argv[1]
    service = importlib.import_module(module)
    if sys.stdin.readline().strip() != "go":
        return
    sys.argv = [module]
    service.main()


if __name__ == "__main__":
    main()
