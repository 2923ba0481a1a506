"""mlrun-cli: run MLproject projects fast, record them exactly."""

__version__ = "0.1.0"
