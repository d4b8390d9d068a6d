"""Small interfaces (protocols) the core defines and the adapters implement.

One module per area, so each adapter's contract sits in one place:
``library`` (the store), ``playback`` (the engine as the core drives it), and the adapters' own
modules for what stays inside an adapter (decoder, output, mixer, tag reader, mounter).
"""
