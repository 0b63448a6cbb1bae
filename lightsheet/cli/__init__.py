"""The ``lightsheet`` command line."""
