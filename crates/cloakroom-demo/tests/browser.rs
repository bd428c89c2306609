//! End to end in a real browser: headless Chromium driven over WebDriver against
//! the demo served on a free port. Needs Debian's `chromium` and `chromium-driver`
//! packages (scripts/test installs them); without them these tests fail, saying so.

mod common;
mod webdriver;

use common::TestServer;
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
