// Follows the order while it moves towards delivery: polls its status and reloads
// the page when the status changes, so the codes appear without a manual refresh.
(function () {
  "use strict";
  const section = document.querySelector("[data-status-url]");
  const waiting = ["paid", "held", "delivering"];
  if (!section || !waiting.includes(section.dataset.status)) return;
  let delay = 1000;
  async function poll() {
    try {
      const response = await fetch(section.dataset.statusUrl, { credentials: "same-origin" });
      const body = await response.json();
      if (body.status !== section.dataset.status) { window.location.reload(); return; }
    } catch (error) { /* offline for a moment: try again later */ }
    delay = Math.min(delay * 1.5, 15000);
    window.setTimeout(poll, delay);
  }
  window.setTimeout(poll, delay);
})();

// Copy buttons next to each revealed code.
document.querySelectorAll("[data-copy]").forEach((button) => {
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = button.dataset.copied;
    } catch (error) { /* clipboard refused: the code stays selectable */ }
  });
});
