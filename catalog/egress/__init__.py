"""How AniBridge reaches hosters and CDNs: one layer for the proxy, probes and downloads.

`ssrf` decides which addresses may be contacted, `connections` is the pooled HTTP/1.1
client that connects only there, `upstream` follows redirects hop by hop on top of it,
`hls` reads playlists the way ffmpeg does, and `splice` moves a body socket to socket.
"""
