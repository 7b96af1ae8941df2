//! Readiness waits for the controller's first list of collections, and does not miss it when
//! something else (the controller itself) waits for the same store.

use std::time::Duration;

use crds::ChannelCollection;
use futures::FutureExt;
use kube::runtime::{reflector, watcher};
use operator::controller::first_sync;

#[tokio::test]
async fn first_sync_resolves_even_when_another_waiter_polled_the_store_later() {
    let (store, mut writer) = reflector::store::<ChannelCollection>();
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { first_sync(&store).await }
    });
    tokio::task::yield_now().await;
    // The controller's runner polls the store's readiness after us (and again and again).
    let mut other = Box::pin(store.wait_until_ready());
    assert!((&mut other).now_or_never().is_none());

    writer.apply_watcher_event(&watcher::Event::Init);
    writer.apply_watcher_event(&watcher::Event::InitDone);

    let synced = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("first_sync saw the first list")
        .unwrap();
    assert!(synced);
}

#[tokio::test]
async fn first_sync_is_false_when_the_writer_goes_away_first() {
    let (store, writer) = reflector::store::<ChannelCollection>();
    drop(writer);
    assert!(!first_sync(&store).await);
}
