"""Notification and push subscription rows → hearth.notify.v1 messages."""

from __future__ import annotations

from hearth.notify.v1 import notify_pb2

from kit.names import household_name, user_name
from services.notify.models import Notification, PushSubscription


def notification_name(notification: Notification) -> str:
    return f"users/{notification.user_id}/notifications/{notification.id}"


def notification_to_proto(notification: Notification) -> notify_pb2.Notification:
    data = notification.data or {}
    household = household_name(notification.household_id)
    message = notify_pb2.Notification(
        name=notification_name(notification),
        type=notification.type,
        title=notification.title,
        body=notification.body,
        household=household,
        subject=f"{household}/chores/{data['chore_id']}" if data.get("chore_id") else "",
        actor=user_name(data.get("completed_by")),
        event_id=str(notification.event_id),
    )
    message.create_time.FromDatetime(notification.create_time)
    if notification.read_time is not None:
        message.read_time.FromDatetime(notification.read_time)
    return message


def push_subscription_to_proto(subscription: PushSubscription) -> notify_pb2.PushSubscription:
    """Without its keys: they are the browser's, needed only to encrypt (INPUT_ONLY)."""
    message = notify_pb2.PushSubscription(
        name=f"users/{subscription.user_id}/pushSubscriptions/{subscription.id}", endpoint=subscription.endpoint
    )
    message.create_time.FromDatetime(subscription.create_time)
    if subscription.expire_time is not None:
        message.expire_time.FromDatetime(subscription.expire_time)
    return message
