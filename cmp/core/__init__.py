"""Pure code shared by the daemon and the clients: protocol, errors, timeline.

No I/O, no asyncio, no clock reads: time is passed in.
"""
