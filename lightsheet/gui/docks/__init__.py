"""The control docks around the preview, one module per dock."""
