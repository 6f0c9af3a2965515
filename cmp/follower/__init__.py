"""The follower: plays a session's music and keeps it on the shared timeline.

:mod:`cmp.follower.player` defines the small :class:`~cmp.follower.player.Player`
interface the follower loop talks to; :mod:`cmp.follower.mpv_player` implements it
over libmpv and is the only module of cmp that imports ``mpv``;
:mod:`cmp.follower.fake` is a clock-driven stand-in for tests.  Nothing is imported
here, so that importing the package never loads libmpv.
"""
