//! What more than one area's tests share: the headless-browser runner
//! ([`browser`]) that the web and network areas drive their pages with.

pub mod browser;

/// A shutdown token that is cancelled when `done` completes: the tasks take a
/// `CancellationToken`, the tests often have a channel or a timer.
pub fn token_after(
    done: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        done.await;
        cancel.cancel();
    });
    token
}
