"""Device protocols and their backends, grouped by kind.

```
camera/   protocol.py (Camera ABC, FrameViews), simulated.py (renders phantom.py at the
          commanded z), genicam.py (Aravis), pylablib_cameras.py (DCAM, Andor SDK3, PCO,
          PVCAM), views.py, listing.py (`lightsheet cameras`), backends.py, factory.py
daq/      protocol.py (DaqBoard ABC), limits.py, simulated*.py, nidaqmx_board.py, factory.py
trigger/  port.py (TriggerPort ABC, pyserial backend), lines.py (the line protocol),
          session.py (one run's exchange), simulated_device.py (the other instrument, on a pty)
```

Each device kind is an ABC whose public methods validate and clip before calling a backend's
``_do_*`` method; simulated backends are real implementations, so a whole rig runs without
hardware. Processes open devices through each kind's ``factory``, never a backend directly.
Modules are imported directly (``lightsheet.hardware.camera.protocol``); no package here imports
its backends, so loading one device never pulls in another's SDK. The contract suites every
backend must pass live in ``lightsheet.testing``.
"""
