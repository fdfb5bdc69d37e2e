"""diagnosis-service: rule-based diagnosis and prescriptions for grassroots party branches."""

__version__ = "0.1.0"
