"""The caller's push devices (§13): register a browser's Web Push subscription or an app's FCM
or APNs token, and forget one. `/api/me` lists them (`api/credits.py`)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.auth import authenticate, current_principal
from api.documented import Reply, documented
from api.limits import write_budget
from api.parsing import json_body
from api.responses import Device
from api.schemas import DeviceRequest
from services import devices
from services.representations import device_json

device_routes = Blueprint("devices", __name__, url_prefix="/api/me/devices")
device_routes.before_request(authenticate)


@device_routes.post("")
@documented(operation_id="registerDevice", summary="Receive push notifications on a device",
            tag="devices", body=DeviceRequest, rate_limited=True,
            responses={201: Reply("registered: new to the caller (an address another account "
                                  "had is moved to the caller); past 10 devices the one seen "
                                  "least recently is forgotten", Device),
                       200: Reply("already the caller's: the same device, its keys refreshed",
                                  Device)})
@write_budget
def register() -> tuple[Response, int]:
    body = json_body(DeviceRequest)
    if body.subscription is not None:
        registered = devices.register(
            user_id=current_principal().user_id, platform=body.platform,
            address=body.subscription.endpoint, p256dh=body.subscription.keys.p256dh,
            auth=body.subscription.keys.auth)
    else:
        assert body.token is not None  # DeviceRequest: a token for every other platform
        registered = devices.register(user_id=current_principal().user_id,
                                      platform=body.platform, address=body.token)
    return jsonify(device_json(registered.device)), 201 if registered.created else 200


@device_routes.delete("/<id:device_id>")
@documented(operation_id="deleteDevice", summary="Stop push notifications to a device",
            tag="devices", rate_limited=True,
            responses={204: Reply("forgotten; its pending notifications are dropped")})
@write_budget
def forget(device_id: int) -> tuple[str, int]:
    devices.forget(user_id=current_principal().user_id, device_id=device_id)
    return "", 204
