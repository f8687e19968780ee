// The payment page. Card: Stripe.js turns the card into a token in the browser, our
// server confirms the payment with it, and a card that needs 3-D Secure is finished
// here with confirmCardPayment. Alipay and WeChat Pay: Stripe.js confirms them and
// redirects, and the return page checks the result with Stripe.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("payment-config").textContent);
  const form = document.getElementById("payment-form");
  const errorBox = document.getElementById("payment-error");
  const stripe = Stripe(config.publishableKey);
  const csrfToken = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));

  function showError(message) {
    errorBox.textContent = message || config.messages.failed;
    errorBox.hidden = false;
  }

  function busy(button, isBusy) {
    if (!button) return;
    button.disabled = isBusy;
    if (isBusy) { button.dataset.label = button.textContent; button.textContent = config.messages.paying; }
    else if (button.dataset.label) { button.textContent = button.dataset.label; }
  }

  let card = null;
  if (document.getElementById("card-element")) {
    card = stripe.elements().create("card");
    card.mount("#card-element");
  }

  async function payByCard(button) {
    const result = await stripe.createToken(card);
    if (result.error) { showError(result.error.message); return; }
    const response = await fetch(config.cardUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken ? csrfToken.split("=")[1] : "" },
      body: JSON.stringify({ token: result.token.id }),
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({}));
    if (answer.redirect) { window.location.assign(answer.redirect); return; }
    if (answer.action === "authenticate") {
      const confirmed = await stripe.confirmCardPayment(answer.clientSecret);
      if (confirmed.error) { showError(confirmed.error.message); return; }
      window.location.assign(config.returnUrl);
      return;
    }
    showError(answer.error);
  }

  async function payByRedirect(method) {
    const result = method === "alipay"
      ? await stripe.confirmAlipayPayment(config.clientSecret, { return_url: config.returnUrl })
      : await stripe.confirmWechatPayPayment(config.clientSecret, {
          payment_method_options: { wechat_pay: { client: "web" } },
        });
    if (result && result.error) { showError(result.error.message); return; }
    window.location.assign(config.returnUrl);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = document.getElementById("pay-button");
    errorBox.hidden = true;
    busy(button, true);
    try { await payByCard(button); } catch (error) { showError(); } finally { busy(button, false); }
  });
  document.querySelectorAll(".pay-redirect").forEach((button) => {
    button.addEventListener("click", async () => {
      errorBox.hidden = true;
      busy(button, true);
      try { await payByRedirect(button.dataset.method); } catch (error) { showError(); } finally { busy(button, false); }
    });
  });
})();
