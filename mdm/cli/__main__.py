"""``python -m mdm.cli`` is the ``mdm`` command."""
from . import main

main()
