"""Tables and the domain operations that keep them consistent."""

from models.base import Base
from models.credits import CreditEntry
from models.generations import HeadshotGeneration
from models.idempotency import IdempotencyKey
from models.styles import Style
from models.uploads import Upload
from models.users import User

__all__ = ["Base", "CreditEntry", "HeadshotGeneration", "IdempotencyKey", "Style", "Upload", "User"]
