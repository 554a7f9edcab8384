"""Tables and the domain operations that keep them consistent."""

from models.base import Base
from models.credits import CreditEntry
from models.idempotency import IdempotencyKey
from models.job.table import Job
from models.styles import Style
from models.uploads import Upload
from models.users import User

__all__ = ["Base", "CreditEntry", "Job", "IdempotencyKey", "Style", "Upload", "User"]
