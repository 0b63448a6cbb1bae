"""The channel limits of the scanning tests' rig: wide enough for every scan they build."""

from lightsheet.hardware.daq.limits import ChannelLimits

LIMITS = {
    "piezo": ChannelLimits(min_v=0.0, max_v=10.0, max_step_v=0.05),
    "z_galvo": ChannelLimits(min_v=-5.0, max_v=5.0, max_step_v=0.05),
    "lateral_galvo": ChannelLimits(min_v=-5.0, max_v=5.0, max_step_v=0.5),
    "laser_blanking": ChannelLimits(min_v=0.0, max_v=5.0, max_step_v=5.0),
    "camera_trigger": ChannelLimits(min_v=0.0, max_v=5.0, max_step_v=5.0),
}
