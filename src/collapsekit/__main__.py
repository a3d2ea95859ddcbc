"""``python -m collapsekit`` runs the command-line tool."""

from collapsekit.cli import run

if __name__ == "__main__":
    run()
