// The web client's service worker (served at /app/sw.js, scope /app). It only shows push
// notifications and opens the headshot when one is clicked; it caches nothing and answers
// no fetch, so the page always talks to the service itself.
// A push's payload (§13): {type, headshotId | batchId, title, body, url}.

"use strict";

function targetOf(data) {
  // Only a page of this client is opened: a payload cannot send the person elsewhere.
  if (data.headshotId) return `/app#/headshot/${encodeURIComponent(data.headshotId)}`;
  if (data.batchId) return `/app#/batch/${encodeURIComponent(data.batchId)}`;
  try {
    const url = new URL(data.url, self.location.origin);
    if (url.origin === self.location.origin && (url.pathname === "/app" ||
                                                url.pathname === "/app/")) return url.href;
  } catch (error) {
    // not a URL: the client's start page below
  }
  return "/app";
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { body: event.data ? event.data.text() : "" };
  }
  const done = data.type === "headshot.completed";
  const title = data.title || (done ? "Your headshot is ready" : "Headshots");
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || "",
    tag: data.headshotId ? `headshot-${data.headshotId}` : data.type || "headshots",
    data: { url: targetOf(data), type: data.type || "" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(event.notification.data.url, self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) {
      if (new URL(client.url).pathname.startsWith("/app") && "focus" in client) {
        await client.focus();
        return client.navigate(url);
      }
    }
    return self.clients.openWindow(url);
  })());
});
