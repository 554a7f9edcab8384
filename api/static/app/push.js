// Web Push (§13): after the first generate the client asks for permission, registers the
// service worker (/app/sw.js, scope /app), subscribes with the service's VAPID public key and
// hands the subscription to POST /api/me/devices. Without a key from the service (Web Push off)
// or without browser support, nothing is shown and nothing is asked.

import { api, call } from "./api.js";

const ASKED_KEY = "headshots.notificationsAsked";
let publicKey;  // undefined: not looked up yet; null: the service has none

async function vapidPublicKey() {
  if (publicKey !== undefined) return publicKey;
  try {
    const me = await call("GET", "/api/me");
    publicKey = me.push?.webPush?.publicKey || null;  // null: Web Push is off on this service
  } catch {
    publicKey = null;
  }
  return publicKey;
}

function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

export async function pushAvailable() {
  return supported() && Boolean(await vapidPublicKey());
}

export function registerWorker() {
  return navigator.serviceWorker.register("/app/sw.js", { scope: "/app", type: "classic" });
}

// Once, after the first generate; a person who said no is not asked again (a permission
// already granted, in this browser's settings, is used without a question).
export async function offerNotifications() {
  if (localStorage.getItem(ASKED_KEY) || !(await pushAvailable())) return;
  if (Notification.permission === "denied") return;
  localStorage.setItem(ASKED_KEY, "1");
  await enableNotifications();
}

// Returns a sentence saying what happened, for the account screen.
export async function enableNotifications() {
  if (!(await pushAvailable())) return "Notifications are not available here.";
  try {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") return "Notifications are off (the browser was told no).";
    await registerWorker();
    const registration = await navigator.serviceWorker.ready;
    const subscription = (await registration.pushManager.getSubscription()) ||
      await registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
    await api.registerDevice(subscription.toJSON());
    return "Notifications are on: you will hear when a headshot is ready.";
  } catch (error) {
    return `Notifications could not be turned on: ${error.message || error}.`;
  }
}

// The VAPID key is base64url (RFC 8292); PushManager wants its bytes.
function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}
