"""Alert delivery: e-mail and webhook messages, each sent exactly once, and the alerts' status.

The public face: :func:`~gpuledger.report.notify.detected.month_alerts` (what the engine finds),
:func:`~gpuledger.report.notify.deliver.deliver_alerts` (send what was not sent yet),
:func:`~gpuledger.report.notify.status.set_status` (acknowledge, dismiss) and
:func:`~gpuledger.report.notify.delivery_state.alert_states` (where each alert stands). The send
protocols are written out in :mod:`~gpuledger.report.notify.deliver` (per channel) and
:mod:`~gpuledger.report.notify.webhook_log` (the webhook's crash window).
"""
