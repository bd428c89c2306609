//! End to end in a real browser: headless Chromium driven over WebDriver against
//! the demo served on a free port. Needs Debian's `chromium` and `chromium-driver`
//! packages (scripts/test installs them); without them these tests fail, saying so.
//!
//! The page tour saves screenshots of what it checks in `target/screenshots`
//! (or `SCREENSHOT_DIR`).

mod common;
mod webdriver;

use common::TestServer;
use serde_json::Value;
use webdriver::{Browser, Driver};

/// One browser test at a time: each runs Chromium, and the machine has 2 cores.
static ONE_BROWSER_TEST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Signs in through the page's form and waits for the signed-in view.
async fn sign_in(browser: &Browser, server: &TestServer, user: &str) {
    browser.goto(&server.url("/")).await;
    let username = browser.wait_for("#login-form #username").await;
    browser.type_into(&username, user).await;
    let password = browser.find("#password").await.expect("a password field");
    browser.type_into(&password, &format!("{user}-pass")).await;
    let button = browser.find("#login-button").await.expect("a sign-in button");
    browser.click(&button).await;
    browser.wait_for_text("#whoami", |text| text == user).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_in_shows_who_you_are_and_survives_a_reload() {
    let _turn = ONE_BROWSER_TEST_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;

    sign_in(&browser, &server, "alice").await;
    browser.wait_for_text("#role", |text| text == "admin").await;
    browser.wait_for("#device-list li[data-current=\"true\"]").await;

    // The session cookie is there, but scripts cannot read it.
    let cookie = browser.cookie("sid").await.expect("the browser holds the sid cookie");
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    let visible = browser.execute("return document.cookie").await;
    let visible = visible.as_str().unwrap_or_default();
    assert!(
        !visible.contains("sid="),
        "document.cookie shows the session cookie: {visible:?}"
    );

    // The form's sign-in left a message, shown once.
    browser
        .wait_for_text("#flash li", |text| text == "Signed in as alice")
        .await;
    browser.refresh().await;
    browser.wait_for_text("#whoami", |text| text == "alice").await;
    assert!(browser.find("#flash").await.is_err(), "the flash shows once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_adds_to_the_cart_through_the_page() {
    let _turn = ONE_BROWSER_TEST_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    sign_in(&browser, &server, "bob").await;
    browser.wait_for("#cart-empty").await;

    let item = browser.find("#cart-id").await.expect("an item field");
    browser.type_into(&item, "socks").await;
    let qty = browser.find("#cart-qty").await.expect("a quantity field");
    browser.clear(&qty).await;
    browser.type_into(&qty, "3").await;
    let add = browser.find("#cart-add").await.expect("an add button");
    browser.click(&add).await;

    browser
        .wait_for_text("#cart-items li[data-id=\"socks\"] .item-qty", |text| text == "3")
        .await;
    browser.wait_for_text("#whoami", |text| text == "bob").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_out_shows_the_sign_in_form_again() {
    let _turn = ONE_BROWSER_TEST_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    sign_in(&browser, &server, "alice").await;
    let signed_in = browser.cookie("sid").await.expect("the session cookie")["value"].clone();

    let logout = browser.find("#logout").await.expect("a sign-out button");
    browser.click(&logout).await;
    browser.wait_for("#login-form").await;
    browser.wait_for_text("#flash li", |text| text == "Signed out").await;
    let event = browser.visible_text("#event").await;
    assert!(event.contains("You signed out."), "{event}");
    browser.screenshot("06-signed-out").await;
    // The message lives in a new anonymous session; the signed-in one is gone.
    let now = browser.cookie("sid").await.map(|cookie| cookie["value"].clone());
    assert_ne!(now, Some(signed_in), "the signed-in session's cookie is gone");
    assert!(server.manager.list_user("alice").await.unwrap().is_empty());

    browser.refresh().await;
    browser.wait_for("#login-form").await;
    assert!(browser.find("#flash").await.is_err(), "the flash shows once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_out_everywhere_signs_out_the_other_browser() {
    let _turn = ONE_BROWSER_TEST_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let first = driver.browser().await;
    let second = driver.browser().await;
    sign_in(&first, &server, "alice").await;
    sign_in(&second, &server, "alice").await;
    first.refresh().await;
    first.wait_for("#device-list li:nth-child(2)").await;

    let everywhere = first.find("#logout-all").await.expect("a sign-out-everywhere button");
    first.click(&everywhere).await;
    first.wait_for("#login-form").await;

    second.refresh().await;
    second.wait_for("#login-form").await;
    assert!(server.manager.list_user("alice").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_checkout_advances_and_resets_through_the_page() {
    let _turn = ONE_BROWSER_TEST_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    sign_in(&browser, &server, "alice").await;
    browser.wait_for_text("#checkout-step", |text| text == "shipping").await;

    let next = browser.find("#checkout-advance").await.expect("a next-step button");
    browser.click(&next).await;
    browser.wait_for_text("#checkout-step", |text| text == "payment").await;

    let reset = browser.find("#checkout-reset").await.expect("a reset button");
    browser.click(&reset).await;
    browser.wait_for_text("#checkout-step", |text| text == "shipping").await;
}

/// Adds `qty` of `item` through the page's cart form and waits for the line.
async fn add_to_cart(browser: &Browser, item: &str, qty: u32) {
    let field = browser.wait_for("#cart-id").await;
    browser.type_into(&field, item).await;
    let count = browser.find("#cart-qty").await.expect("a quantity field");
    browser.clear(&count).await;
    browser.type_into(&count, &qty.to_string()).await;
    let add = browser.find("#cart-add").await.expect("an add button");
    browser.click(&add).await;
    let line = format!("#cart-items li[data-id=\"{item}\"] .item-qty");
    browser.wait_for_text(&line, |text| text == qty.to_string()).await;
}

/// What a user would see go wrong with the layout: inputs without a label,
/// buttons whose words wrap, a form's button pushed off the row of its last
/// field, a page wider than the window. Empty when all is well.
async fn layout_faults(browser: &Browser) -> Vec<String> {
    let faults = browser
        .execute(
            r#"
const faults = [];
for (const input of document.querySelectorAll('input:not([type=hidden]), select')) {
  if (input.labels.length === 0 || !input.labels[0].textContent.trim()) faults.push('no label: #' + input.id);
}
for (const button of document.querySelectorAll('button')) {
  const range = document.createRange();
  range.selectNodeContents(button);
  const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
  if (lines.size > 1) faults.push('wraps: ' + button.textContent.trim());
}
for (const form of document.querySelectorAll('form.row')) {
  const button = form.querySelector('button');
  const fields = form.querySelectorAll('input, select');
  const b = button.getBoundingClientRect(), f = fields[fields.length - 1].getBoundingClientRect();
  if (b.top >= f.bottom || b.bottom <= f.top) faults.push('off the row of its last field: ' + button.textContent.trim());
}
if (document.documentElement.scrollWidth > window.innerWidth) faults.push('wider than the window');
return faults;
"#,
        )
        .await;
    faults
        .as_array()
        .map(|all| all.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_page_tour_shows_the_session_at_work() {
    let _turn = ONE_BROWSER_TEST_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    browser.set_window(1280, 1100).await;

    // A visitor: no session yet, every field labelled, the icon served.
    browser.goto(&server.url("/")).await;
    assert!(
        browser.visible_text("#no-session").await.starts_with("No session yet."),
        "a page view stores nothing"
    );
    assert!(browser.cookie("sid").await.is_none());
    let icon = browser
        .execute(
            "return fetch(document.querySelector('link[rel=icon]').href)\
             .then(r => r.status + ' ' + r.headers.get('content-type'))",
        )
        .await;
    assert_eq!(icon, "200 image/svg+xml");
    let ico = browser
        .execute("return fetch('/favicon.ico').then(r => r.status)")
        .await;
    assert_eq!(ico, 200, "the default icon path answers too");
    browser.screenshot("01-visitor").await;
    assert_eq!(layout_faults(&browser).await, Vec::<String>::new());

    // The cart works before signing in; the session appears with its first write.
    add_to_cart(&browser, "socks", 2).await;
    add_to_cart(&browser, "hat", 1).await;
    let before = browser.visible_text("#fingerprint").await;
    assert!(
        before.len() == 8 && before.bytes().all(|b| b.is_ascii_hexdigit()),
        "{before:?}"
    );
    assert_eq!(browser.visible_text("#session-state").await, "anonymous");
    for id in ["#created", "#last-seen", "#idle-deadline", "#absolute-deadline"] {
        let shown = browser.visible_text(id).await;
        assert!(shown.ends_with(" UTC"), "{id}: {shown:?}");
    }
    browser.screenshot("02-visitor-with-a-cart").await;

    // Signing in: a new ID, said in words, and the cart came along.
    sign_in(&browser, &server, "alice").await;
    let after = browser.visible_text("#fingerprint").await;
    assert_ne!(after, before, "the sign-in issued a new session ID");
    let event = browser.visible_text("#event").await;
    assert!(event.contains("What just happened"), "{event}");
    assert!(event.contains("You signed in as alice"), "{event}");
    assert!(event.contains("new ID"), "{event}");
    assert_eq!(browser.visible_text("#event-before").await, before);
    assert_eq!(browser.visible_text("#event-after").await, after);
    assert_eq!(
        browser.visible_text("#event-cart").await,
        "Your cart came along: 2 lines, under the new ID."
    );
    assert_eq!(
        browser
            .visible_text("#cart-items li[data-id=\"socks\"] .item-qty")
            .await,
        "2"
    );
    assert_eq!(browser.visible_text("#session-state").await, "signed in as alice");

    // This device, told apart from others by its browser and fingerprint.
    let this = "#device-list li[data-current=\"true\"]";
    assert_eq!(browser.visible_text(&format!("{this} .badge")).await, "this device");
    let agent = browser.visible_text(&format!("{this} .device-agent")).await;
    assert!(agent.contains("Chrome") && agent.ends_with(" on Linux"), "{agent:?}");
    assert_eq!(
        browser.visible_text(&format!("{this} .device-fingerprint")).await,
        after
    );
    let meta = browser.visible_text(&format!("{this} .device-meta")).await;
    assert!(meta.contains("from 127.0.0.1") && meta.contains("signed in "), "{meta}");
    browser.screenshot("03-signed-in").await;
    assert_eq!(layout_faults(&browser).await, Vec::<String>::new());

    // The header transport, with commands for this very server.
    let example = browser.visible_text("#header-example").await;
    assert!(example.contains(&format!("{}/auth/login", server.url(""))), "{example}");

    // A preference, written through the write-only handle, changes the page.
    let light = browser
        .execute("return getComputedStyle(document.body).backgroundColor")
        .await;
    let theme = browser.find("#pref-theme").await.expect("a theme field");
    browser.click(&theme).await;
    let dark = browser
        .find("#pref-theme option[value=\"dark\"]")
        .await
        .expect("a dark option");
    browser.click(&dark).await;
    let save = browser.find("#prefs-save").await.expect("a save button");
    browser.click(&save).await;
    browser
        .wait_for_text("#prefs-list li[data-name=\"theme\"] .pref-value", |text| {
            text == "\"dark\""
        })
        .await;
    assert_eq!(
        browser.execute("return document.documentElement.dataset.theme").await,
        "dark"
    );
    let now = browser
        .execute("return getComputedStyle(document.body).backgroundColor")
        .await;
    assert_ne!(now, light, "the dark theme shows");

    // A second device of alice's, listed apart, with a way to sign it out.
    let phone = driver.browser().await;
    sign_in(&phone, &server, "alice").await;
    let phone_fingerprint = phone.visible_text("#fingerprint").await;
    browser.refresh().await;
    let other = "#device-list li[data-current=\"false\"]";
    assert_eq!(
        browser.visible_text(&format!("{other} .device-fingerprint")).await,
        phone_fingerprint
    );
    assert_eq!(
        browser.visible_text(&format!("{other} button.revoke")).await,
        "Sign out this device"
    );
    browser.screenshot("04-dark-two-devices").await;
    assert_eq!(layout_faults(&browser).await, Vec::<String>::new());

    // A narrow window (500 px, the narrowest headless Chromium makes): nothing
    // wraps, nothing sticks out.
    browser.set_window(500, 900).await;
    let shot = browser.screenshot("05-narrow").await;
    assert_eq!(layout_faults(&browser).await, Vec::<String>::new());
    assert!(std::fs::metadata(&shot).unwrap().len() > 1_000, "{}", shot.display());

    // Signing the other device out from here.
    let revoke = browser.find(&format!("{other} button.revoke")).await.unwrap();
    browser.click(&revoke).await;
    browser
        .wait_for_text("#device-list", |text| !text.contains(&phone_fingerprint))
        .await;
    phone.refresh().await;
    phone.wait_for("#login-form").await;
}
