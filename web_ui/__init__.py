"""The front door: create_app(), the `hall` CLI, sign-in and roles, the audit log, and the pages."""

from web_ui.app import create_app
from web_ui.settings import HallSettings, load_settings

__all__ = ["HallSettings", "create_app", "load_settings"]
