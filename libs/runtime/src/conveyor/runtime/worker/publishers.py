"""Which broker users may publish jobs for which owners (``CONVEYOR_PUBLISHER_OWNERS``).

RabbitMQ refuses a publish whose ``user_id`` property is not the publishing connection's
user, so a job message's ``user_id`` names the broker user that sent it. Each entry of the
setting is ``<broker user>=<owner>|<owner>...`` or ``<broker user>=*`` (any owner); ``*=*``
lets anyone, even a publisher that sets no ``user_id``, submit for anyone (development only).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from conveyor.runtime.settings import SettingsError

ANY = "*"
VARIABLE = "CONVEYOR_PUBLISHER_OWNERS"


@dataclass(frozen=True, slots=True)
class PublisherPolicy:
    """Broker user -> the owners it may submit for (``None``: any owner)."""

    owners: dict[str, frozenset[str] | None]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> PublisherPolicy:
        """Read the setting's entries; ``SettingsError`` naming the bad one."""
        entries = list(entries)
        owners: dict[str, frozenset[str] | None] = {}
        for entry in entries:
            user, sep, names = (part.strip() for part in entry.partition("="))
            listed = frozenset(n.strip() for n in names.split("|") if n.strip())
            if not sep or not user or not listed:
                raise SettingsError(
                    VARIABLE,
                    ",".join(entries),
                    f"entry {entry!r} is not '<broker user>=<owner>|<owner>' or '<user>=*'",
                )
            if ANY in listed:
                owners[user] = None
            else:
                previous = owners.get(user, frozenset())
                owners[user] = None if previous is None else previous | listed
        return cls(owners)

    def refusal(self, user_id: str | None, owner: str) -> str | None:
        """Why ``user_id`` may not submit a job for ``owner``; ``None`` if it may."""
        for candidate in (user_id, ANY):
            if candidate is None or candidate not in self.owners:
                continue
            allowed = self.owners[candidate]
            if allowed is None or owner in allowed:
                return None
        if user_id is None:
            return (
                f"the job for owner {owner!r} carries no user_id property, so its publisher is "
                f"unknown; only publishers listed in {VARIABLE} may submit jobs"
            )
        return f"broker user {user_id!r} may not submit jobs for owner {owner!r} (see {VARIABLE})"
