"""PAT-MDM: master-data management and identity resolution for Finnish cities."""

__version__ = "0.1.0"
