"""Application layer: the Session that both the GUI and the command line drive (no Qt here)."""
