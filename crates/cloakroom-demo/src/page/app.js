// The demo page's script: each control but the sign-in and sign-out forms calls
// the JSON API, then the page reloads to show the session as the server now has
// it. Errors are shown in #notice.
"use strict";

const notice = document.getElementById("notice");

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(data.error || response.statusText);
  }
  return data;
}

async function run(action) {
  try {
    await action();
    location.reload();
  } catch (err) {
    notice.textContent = err.message;
  }
}

function on(id, event, handler) {
  const element = document.getElementById(id);
  if (element) {
    element.addEventListener(event, handler);
  }
}

function value(id) {
  return document.getElementById(id).value;
}

// Signing in and out are plain HTML forms (with their CSRF token): the server
// answers 303 to this page, which then shows their message once.
on("logout-all", "click", () => run(() => api("POST", "/auth/logout-all")));

on("cart-form", "submit", (event) => {
  event.preventDefault();
  run(() => api("POST", "/cart", { id: value("cart-id"), qty: Number(value("cart-qty")) }));
});

for (const button of document.querySelectorAll(".cart-remove")) {
  button.addEventListener("click", () => run(() => api("DELETE", "/cart/" + encodeURIComponent(button.dataset.id))));
}

on("checkout-advance", "click", (event) => {
  const step = event.currentTarget.dataset.next;
  run(() => api("POST", "/checkout/advance", { step }));
});
on("checkout-reset", "click", () => run(() => api("POST", "/checkout/reset")));

on("prefs-form", "submit", (event) => {
  event.preventDefault();
  run(() => api("PUT", "/prefs/theme", value("pref-theme")));
});

on("logout-others", "click", () => run(() => api("POST", "/auth/logout-others")));

for (const button of document.querySelectorAll(".revoke")) {
  button.addEventListener("click", () =>
    run(() => api("DELETE", "/auth/sessions/" + encodeURIComponent(button.dataset.handle))),
  );
}
