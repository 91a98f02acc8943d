"""Who may join which channel: the Python twin of a Laravel app's ``routes/channels.php``.

```php
Broadcast::channel('conversation.{conversation}', fn ($user, $conversation) => $conversation->hasMember($user));
Broadcast::channel('conversation.{conversation}.presence', fn ($user, $conversation) =>
    $conversation->hasMember($user) ? ['id' => $user->id, 'name' => $user->name, 'avatar' => $user->avatar] : false);
```

``{conversation_id}`` matches one dot-free segment, so the two patterns never overlap. The rules answer pusher-js's
``POST /broadcasting/auth`` through the publisher library's ``broadcasting_routes``.
"""

from __future__ import annotations

from typing import Any

from pusherpy.publisher import ChannelRules

from .store import ConversationStore
from .users import User


def _conversation_id(text: str) -> int | None:
    return int(text) if text.isdecimal() and len(text) < 19 else None


def conversation_rules(store: ConversationStore) -> ChannelRules:
    """The chat's channel rules: a conversation's channels are for its members only."""
    rules = ChannelRules()

    @rules.rule("conversation.{conversation_id}")
    async def conversation(user: User, conversation_id: str) -> bool:
        number = _conversation_id(conversation_id)
        return number is not None and await store.is_member(number, user.id)

    @rules.rule("conversation.{conversation_id}.presence")
    async def presence(user: User, conversation_id: str) -> dict[str, Any] | bool:
        number = _conversation_id(conversation_id)
        if number is None or not await store.is_member(number, user.id):
            return False
        return user.public()

    return rules
