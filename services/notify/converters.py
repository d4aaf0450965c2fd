"""Notification, push subscription, webhook and webhook delivery rows → hearth.notify.v1 messages."""

from __future__ import annotations

from hearth.notify.v1 import notify_pb2

from kit.names import household_name, user_name
from services.notify.models import Notification, PushSubscription, Webhook, WebhookDelivery


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


def webhook_name(webhook: Webhook) -> str:
    return f"households/{webhook.household_id}/webhooks/{webhook.id}"


def webhook_to_proto(webhook: Webhook) -> notify_pb2.Webhook:
    message = notify_pb2.Webhook(
        name=webhook_name(webhook),
        url=webhook.url,
        events=list(webhook.events),
        description=webhook.description,
        state=webhook.state,
        disabled_reason=webhook.disabled_reason or "",
    )
    message.create_time.FromDatetime(webhook.create_time)
    message.update_time.FromDatetime(webhook.update_time)
    if webhook.disabled_time is not None:
        message.disable_time.FromDatetime(webhook.disabled_time)
    if webhook.previous_secret_until is not None and webhook.previous_secret_sealed:
        message.previous_secret_expire_time.FromDatetime(webhook.previous_secret_until)
    return message


def delivery_to_proto(delivery: WebhookDelivery) -> notify_pb2.WebhookDelivery:
    message = notify_pb2.WebhookDelivery(
        name=f"households/{delivery.household_id}/webhooks/{delivery.webhook_id}/deliveries/{delivery.id}",
        event_id=str(delivery.event_id),
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        response_code=delivery.response_code or 0,
        latency_ms=delivery.latency_ms or 0,
        last_error=delivery.last_error or "",
    )
    message.create_time.FromDatetime(delivery.create_time)
    if delivery.attempt_time is not None:
        message.attempt_time.FromDatetime(delivery.attempt_time)
    if delivery.next_attempt_time is not None:
        message.next_attempt_time.FromDatetime(delivery.next_attempt_time)
    return message
