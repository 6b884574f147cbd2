"""Notifications: who is told what, when (docs/notifications.md).

The state side — preferences, DND, thread subscriptions, unread counts and the badge
(``prefs``, ``dnd``, ``counts``) — is read by the API's actions and by the notification
worker; ``prefs`` is the worker's stable read interface.
"""
