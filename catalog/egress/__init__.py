"""How AniBridge reaches hosters and CDNs: one layer for the proxy, probes and downloads.

`ssrf` decides which addresses may be contacted, `connections` is the pooled HTTP/1.1
client that connects only there, `upstream` follows redirects hop by hop on top of it,
`hls` reads playlists the way ffmpeg does, and `splice` moves a body socket to socket.
`proxies` decides which proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) a host is
reached through, `tunnel` opens every connection (directly or through that proxy, with
the address check), and `sessions` / `niquests_routes` make requests and niquests
connect through it.
"""
