"""What can go wrong with a backup.

    BackupError
    ├── BackupInvalid   (a manifest, seal, digest or store does not check out)
    └── SealBroken      (backups.sealing: a sealed file altered, cut short, or another key's)
"""


class BackupError(Exception):
    """Raised when a backup cannot be taken, stored, found or trusted."""


class BackupInvalid(BackupError):
    """Raised when a backup's manifest, seal, digest or store does not check out."""
