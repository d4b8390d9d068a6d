"""One module per screen of the jukebox UI."""
