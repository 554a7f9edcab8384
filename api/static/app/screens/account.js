// Account: notifications, sign out, and "delete my data" (DELETE /api/me) after a question.

import { api } from "../api.js";
import { failed, go, refreshBalance, signOut } from "../main.js";
import { enableNotifications, pushAvailable } from "../push.js";
import { $, confirmAction } from "../ui.js";

export async function show() {
  const me = await refreshBalance();
  $("account-who").textContent = `Signed in as ${me.email || `user ${me.id}`}.`;
  $("push-box").hidden = !(await pushAvailable());
}

$("sign-out").addEventListener("click", () => signOut(""));

$("push-enable").addEventListener("click", async () => {
  $("push-state").textContent = await enableNotifications();
});

$("delete-data").addEventListener("click", async () => {
  const sure = await confirmAction(
    "Delete all your photos and headshots? This cannot be undone. Running headshots are " +
    "cancelled and refunded; your credits stay.", "Delete my data");
  if (!sure) return;
  try {
    await api.deleteMyData();
    go("#/library", "Your photos and headshots were deleted.");
  } catch (error) {
    failed(error);
  }
});
