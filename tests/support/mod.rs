//! What more than one area's tests share: the headless-browser runner
//! ([`browser`]) that the web and network areas drive their pages with, and
//! the bodies hostile servers answer with (prices, export).

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

/// A body that never ends: `byte`, 64 KiB at a time, for ever.
pub fn endless_body(byte: u8) -> axum::body::Body {
    let chunk = axum::body::Bytes::from(vec![byte; 64 * 1024]);
    axum::body::Body::from_stream(futures_util::stream::repeat_with(move || {
        Ok::<_, std::io::Error>(chunk.clone())
    }))
}

/// A body that never ends and comes slowly: one `byte` every `every`.
pub fn trickle_body(byte: u8, every: std::time::Duration) -> axum::body::Body {
    axum::body::Body::from_stream(futures_util::stream::unfold((), move |()| async move {
        tokio::time::sleep(every).await;
        Some((
            Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![byte])),
            (),
        ))
    }))
}
