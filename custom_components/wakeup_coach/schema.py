"""The schema library: voluptuous up to HA 2026.9, probatio (its drop-in successor) after.

HA 2026.10+ makes `import voluptuous` return probatio, and its own signatures name
probatio's types; HA 2025.x has no probatio. So: import voluptuous at run time,
and let the type checker see probatio wherever it exists.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import probatio as vol  # type: ignore[import-not-found,unused-ignore]
else:
    import voluptuous as vol

__all__ = ["vol"]
