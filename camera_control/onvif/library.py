"""The onvif-zeep-async library (on zeep and aiohttp), imported with its side effects undone.

The rest of the adapter imports the library from here, so that importing `camera_control.onvif` leaves
the process's logging alone, and makes its library cameras with `new_library_camera()`, which leaves the
process's environment alone.
"""

from __future__ import annotations

import logging
import os

# Library quirk: onvif/client.py calls logging.basicConfig(level=INFO) when it is imported, which
# installs a root handler before the hall's own logging setup and turns that setup into a no-op.
# Import it with the root logger's state saved, and put that state back.
_root_handlers_before = list(logging.root.handlers)
_root_level_before = logging.root.level
from onvif.client import ONVIFCamera, UsernameDigestTokenDtDiff  # noqa: E402
from onvif.exceptions import ONVIFError  # noqa: E402
from onvif.util import normalize_url  # noqa: E402

for _handler in logging.root.handlers[:]:
    if _handler not in _root_handlers_before:
        logging.root.removeHandler(_handler)
logging.root.setLevel(_root_level_before)
# Library quirk: onvif/zeep_aiohttp.py logs every request and answer at DEBUG, WS-Security header
# (digest, nonce) and stream URIs included. Keep that logger quiet even when the hall debugs.
logging.getLogger("onvif.zeep_aiohttp").setLevel(logging.INFO)

__all__ = ["ONVIFCamera", "ONVIFError", "UsernameDigestTokenDtDiff", "new_library_camera", "normalize_url"]


def new_library_camera(host: str, port: int, username: str, password: str) -> ONVIFCamera:
    # Library quirk: ONVIFCamera.__init__ deletes http_proxy/https_proxy from the whole process's
    # environment (onvif/client.py, ONVIFCamera.__init__). Its aiohttp sessions ignore the
    # environment anyway, so put the variables back for everyone else.
    saved = {name: os.environ[name] for name in ("http_proxy", "https_proxy") if name in os.environ}
    try:
        # no_cache: the WSDLs are local files; the zeep SQLite cache would only write to $HOME.
        return ONVIFCamera(host, port, username, password, no_cache=True)
    finally:
        os.environ.update(saved)
