"""The top-level modules of the distributions requirements/left-out.txt keeps out of the
runtime install (tests/without_unused_packages.py makes them unimportable)."""

LEFT_OUT = (
    "patchright",
    "pyee",
    "flask",
    "flask_wtf",
    "wtforms",
    "waitress",
    "werkzeug",
    "jinja2",
    "itsdangerous",
    "blinker",
    "markupsafe",
    "npyscreen",
    "m3u8",
)
