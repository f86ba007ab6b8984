"""An audit log of every provider call: an observer plugin for batch-router."""

from batch_router_audit.plugin import AUDIT_LOG_ENV, AuditLog

__all__ = ["AUDIT_LOG_ENV", "AuditLog"]
