"""Executes a notebook headless (nbclient), in the notebook's folder, and fails on the first
cell that raises. Used by CI so that examples/quickstart.ipynb cannot rot:

    python examples/run_notebook.py examples/quickstart.ipynb
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main(path: str) -> None:
    nb_path = Path(path).resolve()
    nb = nbformat.read(nb_path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(nb_path.parent)}},
    )
    client.execute()
    cells = sum(1 for c in nb.cells if c.cell_type == "code")
    print(f"{nb_path.name}: {cells} code cells ran")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: run_notebook.py NOTEBOOK.ipynb")
    main(sys.argv[1])
