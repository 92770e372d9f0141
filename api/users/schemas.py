"""Request and response bodies of the account endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

_EMAIL = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"


class SignUp(BaseModel):
    """A new account."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, pattern=_EMAIL)
    password: str = Field(min_length=10, max_length=256, description="at least 10 characters")
    display_name: str = Field(min_length=1, max_length=80)

    @field_validator("email")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()

    @field_validator("display_name")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("display_name must not be blank")
        return v


class Login(BaseModel):
    """Credentials."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class AccountDeletion(BaseModel):
    """The account's password, asked again so that a stolen access token alone cannot delete an account."""

    model_config = ConfigDict(extra="forbid")

    password: str = Field(max_length=256)


class RefreshRequest(BaseModel):
    """A refresh token to rotate or revoke."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=10, max_length=2000)


class TokenPair(BaseModel):
    """Tokens issued at login or refresh."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="access token lifetime in seconds")


class ProfileUpdate(BaseModel):
    """Editable profile fields (omitted fields stay as they are)."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, min_length=1, max_length=80)
    bio: str | None = Field(default=None, max_length=1000)


class PublicProfile(BaseModel):
    """What anyone may see of a user."""

    id: str
    display_name: str
    bio: str
    created_at: datetime


class OwnProfile(PublicProfile):
    """What a user sees of themselves."""

    email: str
