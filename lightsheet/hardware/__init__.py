"""Device protocols (camera, DAQ board, trigger port, lasers) and their backends.

Each device kind is an ABC whose public methods validate and clip before calling a backend's
``_do_*`` method; simulated backends are real implementations, so a whole rig runs without
hardware. Modules are imported directly (``lightsheet.hardware.camera``); this package imports
nothing, so loading one device never pulls in another's SDK.
"""
