//! Traffic through an outage of a real store: what each request answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use serde_json::json;
use tokio::task::JoinHandle;

use super::{Reply, send};

/// Writes with one cookie every 5 ms, in the background, until `finish`.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Vec<u16>>,
}

impl Traffic {
    pub fn start(app: &Router, cookie: &str) -> Self {
        let (app, cookie) = (app.clone(), cookie.to_owned());
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..3000 {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let uri = format!("/set/t{}", i % 8);
                let reply = send(&app, "PUT", &uri, Some(&cookie), Some(json!(i))).await;
                statuses.push(reply.status.as_u16());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            statuses
        });
        Self { stop, task }
    }

    /// Stops the traffic after 200 ms more, and checks that it only ever saw 200
    /// and 503, saw the outage, and ended served.
    pub async fn finish(self) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.stop.store(true, Ordering::SeqCst);
        let statuses = self.task.await.unwrap();
        assert!(statuses.iter().all(|s| *s == 200 || *s == 503), "{statuses:?}");
        assert!(statuses.contains(&503), "the traffic saw the outage");
        assert_eq!(*statuses.last().unwrap(), 200, "the traffic recovered");
    }
}

/// Sends `GET uri` until it answers 200 (10 s at most); the first 200's reply.
pub async fn until_served(app: &Router, uri: &str, cookie: &str) -> Reply {
    for _ in 0..100 {
        let reply = send(app, "GET", uri, Some(cookie), None).await;
        if reply.status == 200 {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("requests succeed again once the store is back");
}

/// The reply of a request while the store is down: 503 and the documented body,
/// within 10 s.
pub async fn assert_down(app: &Router, uri: &str, cookie: &str) {
    let down = tokio::time::timeout(Duration::from_secs(10), send(app, "GET", uri, Some(cookie), None))
        .await
        .expect("a request while the store is down must not hang");
    assert_eq!(down.status, 503);
    assert_eq!(down.json(), json!({"error": "session store unavailable"}));
}
