"""The fake outside world: local HTTP servers standing in for aniworld.to, s.to,
megakino, five hosters, a CDN with real media and SkyHook.

    with FakeWeb() as web:
        web.urls["aniworld"]            # http://127.0.0.1:<port>
        web.counts.count("aniworld", "/animes-alphabet")
        web.cdn.fail_next("hls/ts/360p/seg1.ts", status=403)

Content: catalog_data.py. Media: media.py. Token and fault knobs: cdn.py, server.py;
the named faults of the fault-injection matrix: faults.py.
`python -m tests.fakeweb` runs everything in the foreground.
"""

from tests.fakeweb.server import Traffic
from tests.fakeweb.web import FakeWeb

__all__ = ["FakeWeb", "Traffic"]
