"""The consoles every verb prints to: results on stdout, errors unwrapped on stderr."""

from rich.console import Console

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # errors unwrapped, so they can be read whole and grepped
